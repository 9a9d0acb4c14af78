/** `@tidewire/client` in browsers (the `browser` export condition): WebSocket only, no `node:` imports. */
export {
  type BrowserClientEvents as ClientEvents,
  type BrowserCloseInfo as ClientCloseInfo,
  type BrowserConnectOptions as ConnectOptions,
  type BrowserNotification as ClientNotification,
  type BrowserPushMessage as PushMessage,
  type BrowserResponse as Response,
  connect,
  TidewireClient,
} from './browser/client.ts';
export { ClientErrorCode } from './errors.ts';
export { type RequestSessionOptions, requestSession, type Session } from './session.ts';
