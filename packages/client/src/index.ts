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
export { type RequestSessionOptions, requestSession, type Session } from './session.ts';
