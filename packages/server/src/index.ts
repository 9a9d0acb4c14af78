export type { CommandHandler, CommandHook, KeepAliveHandler, Next } from '@tidewire/command-router';
export { CommandError } from '@tidewire/command-router';
export type { Mesh, NodeInfo, SessionTicket } from '@tidewire/mesh';
export type {
  DeliveryLedger,
  Notification,
  NotificationBus,
  NotificationFilter,
  NotificationLoader,
  NotificationServiceOptions,
} from '@tidewire/notifier';
export {
  type CommandsConfig,
  type ConnectorSection,
  DEFAULT_CONFIG,
  formatEndpoint,
  type HttpConfig,
  loadConfig,
  PUBLIC_ENDPOINT_PROVIDERS,
  type PublicEndpointSection,
  parseEndpoint,
  resolveConfig,
  type ServerConfig,
  type ServerConfigInput,
  type TcpConfig,
  type UdpConfig,
} from './config.ts';
export {
  Bad,
  command,
  defaultServer,
  deleteNotification,
  Err,
  enableNotifications,
  exposeDebugCommands,
  getEndPoint,
  handleCommand,
  hookAllCommands,
  isCommandDuplicate,
  isDebugCommandsEnabled,
  isP2PEnabled,
  isTCP,
  isUDP,
  markServerAsTakenIf,
  notificationService,
  notify,
  Ok,
  offline,
  onDisconnect,
  onKeepAlive,
  online,
  sendPM,
  sendToUser,
  setDebugCommandCallback,
  setOnNotification,
  setPublicEndPoint,
  setupAsConnector,
  setupAsTCPServer,
  setupAsUDPServer,
  setupGenericCloudServer,
  setupServerForAlibaba,
  setupServerForAWS,
  setupServerForAzure,
  setupServerForGCP,
  setupServerForLinode,
  setupServerForTencent,
  start,
  taken,
} from './default-server.ts';
export { ServerErrorCode } from './errors.ts';
export {
  type AuthenticateHook,
  allowAnyUser,
  type SessionResponse,
  USER_ID_PATTERN,
} from './http-endpoint.ts';
export { P2PCommand } from './p2p.ts';
export {
  type CloudSetupOptions,
  type CreateServerOptions,
  createServer,
  type DebugCommandCallback,
  type DisconnectCallback,
  type LeaveCallback,
  type NotificationOptions,
  type ResumeCallback,
  type ShutdownOptions,
  TidewireServer,
} from './server.ts';
export { ServerState, TAKEN_POLL_INTERVAL_MS } from './state.ts';
export { TCPType, UDPType, WSType } from './transport-types.ts';
export {
  type ClientConnection,
  type SendOptions,
  type Transport,
  User,
  type UserDataDump,
} from './user.ts';
