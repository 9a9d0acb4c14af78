export {
  WsChannel,
  type WsCloseMessage,
  type WsConnectionMessage,
  type WsRejectMessage,
} from './channels.ts';
export { type WsCloseInfo, WsConnection } from './connection.ts';
export { DEFAULT_WS_CONNECT_TIMEOUT_MS, dialWs, type WsDialOptions } from './dial.ts';
export { WsCloseCode, WsErrorCode, wsCloseCodeFor } from './errors.ts';
export {
  listenWs,
  type UpgradeRefusal,
  type WsListener,
  type WsListenerOptions,
} from './listener.ts';
export {
  CLOSE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_WS_PATH,
  MAX_HIGH_WATER_MARK,
  type WsConnectionOptions,
} from './options.ts';
export { type OriginPolicy, originAllowed } from './origin.ts';
