export {
  type ClientCloseInfo,
  type ClientEvents,
  type ClientNotification,
  type ConnectOptions,
  connect,
  type PushMessage,
  type RequestOptions,
  type Response,
  TidewireClient,
} from './client.ts';
export { ClientErrorCode } from './errors.ts';
export {
  localAddress,
  P2PChannel,
  type P2PChannelEvents,
  type P2PMode,
  type PeerAddresses,
} from './p2p.ts';
export { type BackoffOptions, backoffDelay, type ReconnectOptions } from './resume/backoff.ts';
export { type RequestSessionOptions, requestSession, type Session } from './session.ts';
