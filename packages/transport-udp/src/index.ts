export {
  closeChannel,
  connectionChannel,
  dropChannel,
  retransmitChannel,
  spuriousLossChannel,
} from './channels.ts';
export {
  type CloseInfo,
  type SendOptions,
  UdpConnection,
  type UdpConnectionStats,
} from './connection.ts';
export { CookieJar } from './cookie.ts';
export {
  dialUdp,
  HANDSHAKE_RETRY_MAX_MS,
  HANDSHAKE_RETRY_MS,
  UdpClientConnection,
  type UdpDialOptions,
} from './dial.ts';
export { RefuseReason, UdpCloseCode, UdpErrorCode } from './errors.ts';
export { FragmentAssembler } from './fragments.ts';
export {
  type AuthenticateResult,
  listenUdp,
  type UdpListener,
  type UdpListenerCloseOptions,
  type UdpListenerOptions,
  type UdpRemote,
} from './listener.ts';
export type { UdpTuningOptions } from './options.ts';
export {
  decodeReflect,
  decodeReflected,
  encodeReflect,
  encodeReflected,
  REFLECT,
  REFLECT_SIZE,
  REFLECTED,
  REFLECTED_SIZE,
  reflectAddress,
} from './reflect.ts';
export {
  DEFAULT_SESSION_OPTIONS,
  PACKET_HEADER_ROOM,
  RudpSession,
  resolveSessionOptions,
  type SessionHandler,
  type SessionOptions,
  type SessionStats,
} from './session.ts';
