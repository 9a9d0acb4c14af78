export {
  type TcpBytesMessage,
  type TcpByteTotals,
  TcpChannel,
  type TcpCloseMessage,
  type TcpConnectionMessage,
  tcpByteTotals,
} from './channels.ts';
export { type CloseInfo, type TcpCloseOptions, TcpConnection } from './connection.ts';
export { DEFAULT_CONNECT_TIMEOUT_MS, dialTcp, type TcpDialOptions } from './dial.ts';
export { TcpCloseCode, TcpErrorCode } from './errors.ts';
export {
  listenTcp,
  type TcpListener,
  type TcpListenerCloseOptions,
  type TcpListenerOptions,
} from './listener.ts';
export {
  CLOSE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  MAX_HIGH_WATER_MARK,
  type TcpConnectionOptions,
} from './options.ts';
