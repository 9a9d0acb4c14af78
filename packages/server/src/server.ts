import type {
  CommandHandler,
  CommandHook,
  CommandRouter,
  KeepAliveHandler,
  Next,
} from '@tidewire/command-router';
import type { Mesh } from '@tidewire/mesh';
import type {
  Notification,
  NotificationFilter,
  NotificationLoader,
  NotificationServiceOptions,
} from '@tidewire/notifier';
import { BUILTIN_VER, CORE_VER, pack, TidewireError } from '@tidewire/wire';
import { composeServer, type ServerParts } from './compose.ts';
import { formatEndpoint, type ServerConfig } from './config.ts';
import type { DebugCommandCallback, DebugCommands } from './debug-commands.ts';
import type { AuthenticateHook } from './http-endpoint.ts';
import type { Lifecycle, ShutdownOptions } from './lifecycle.ts';
import type { ServerNotifications } from './notifications.ts';
import type { CreateServerOptions, NotificationOptions } from './options.ts';
import type { CloudSetupOptions, PublicEndpoint } from './public-endpoint.ts';
import type { ServerStates } from './server-states.ts';
import type { ServerSetup } from './setup.ts';
import { ServerState } from './state.ts';
import { TCPType, type Transport, UDPType } from './transport-types.ts';
import { TRANSPORT_ADAPTERS } from './transports/registry.ts';
import type { User } from './user.ts';
import type { DisconnectCallback, LeaveCallback, ResumeCallback, UserRegistry } from './users.ts';

export type { DebugCommandCallback } from './debug-commands.ts';
export type { ShutdownOptions } from './lifecycle.ts';
export type { CreateServerOptions, NotificationOptions } from './options.ts';
export type { CloudSetupOptions } from './public-endpoint.ts';
export type { DisconnectCallback, LeaveCallback, ResumeCallback } from './users.ts';

/**
 * One Tidewire server node: the seed engine's `server` package as an object.
 * Create it, set it up as a TCP server, register handlers, then `start()`.
 *
 * A facade: each concern is a part in its own file (the README's "How it is
 * built"), composed in the constructor; the methods delegate to them.
 */
export class TidewireServer {
  readonly #parts: ServerParts;
  readonly #setup: ServerSetup;
  readonly #router: CommandRouter<User>;
  readonly #users: UserRegistry;
  readonly #states: ServerStates;
  readonly #debug: DebugCommands;
  readonly #notifications: ServerNotifications;
  readonly #publicEndpoint: PublicEndpoint;
  readonly #lifecycle: Lifecycle;

  constructor(options: CreateServerOptions = {}) {
    const parts = composeServer(this, options);
    this.#parts = parts;
    this.#setup = parts.setup;
    this.#router = parts.router;
    this.#users = parts.users;
    this.#states = parts.states;
    this.#debug = parts.debug;
    this.#notifications = parts.notifications;
    this.#publicEndpoint = parts.publicEndpoint;
    this.#lifecycle = parts.lifecycle;
    if (this.#setup.config.debug) this.exposeDebugCommands();
  }

  /** The resolved configuration. */
  get config(): Readonly<ServerConfig> {
    return this.#setup.config;
  }

  // ---- setup -------------------------------------------------------------

  /**
   * Sets the server up as a TCP server, loading the JSON config at `path`
   * (empty: the config given to the constructor, else defaults).
   */
  async setupAsTCPServer(path = ''): Promise<void> {
    await this.#setup.transport('setupAsTCPServer', path, TCPType);
  }

  /**
   * Sets the server up as a UDP (RUDP) server, loading the JSON config at
   * `path` (empty: the config given to the constructor, else defaults). A
   * node may run TCP and UDP together.
   */
  async setupAsUDPServer(path = ''): Promise<void> {
    await this.#setup.transport('setupAsUDPServer', path, UDPType);
  }

  /**
   * Sets the server up to serve `transport` (any registered transport type:
   * `TCPType`, `UDPType`...), loading the JSON config at `path` as the
   * setupAs*Server functions do. Throws `TIDEWIRE_ERR_INVALID_ARGUMENT` for a
   * type no adapter is registered for.
   */
  async setupAsServer(transport: Transport, path = ''): Promise<void> {
    await this.#setup.transport('setupAsServer', path, transport);
  }

  /** True when UDP clients may ask for direct paths to each other (config `udp.enableP2P`). */
  isP2PEnabled(): boolean {
    return this.#setup.has(UDPType) && this.config.udp.enableP2P;
  }

  /** True when sessions of `transport` (default: every transport this node runs) are sealed with AES-128-GCM. */
  isEncryptionEnabled(transport?: Transport): boolean {
    const on = (t: Transport): boolean =>
      TRANSPORT_ADAPTERS.get(t)?.encryption(this.config) ?? false;
    if (transport !== undefined) return on(transport);
    const types = this.#setup.transports().map((adapter) => adapter.type);
    return types.every(on) && types.length > 0;
  }

  /**
   * Sets the node up as a connector (the engine's `SetupAsConnector`): no
   * client transport; the external real-time server at config
   * `connector.endpoint` is registered in the mesh under this node, players
   * are sent there, and it checks their sessions and reports its players
   * through the connector API (see the README). `path`: a JSON config file.
   */
  async setupAsConnector(path = ''): Promise<void> {
    await this.#setup.asConnector(path);
  }

  /** True after `setupAsConnector`. */
  isConnector(): boolean {
    return this.#setup.connector;
  }

  /** Replaces the HTTP endpoint's authenticate hook. */
  setAuthenticate(hook: AuthenticateHook): void {
    this.#parts.authenticate = hook;
  }

  // ---- commands ----------------------------------------------------------

  /** Registers a handler for (ver, cmd); several run in order of registration. */
  handleCommand(ver: number, cmd: number, handler: CommandHandler<User>): void {
    this.#router.handleCommand(ver, cmd, handler);
  }

  /** @deprecated The engine's `Command`: use `handleCommand`. */
  command(
    ver: number,
    cmd: number,
    handler: (user: User, next: Next) => void | Promise<void>,
  ): void {
    this.#router.command(ver, cmd, handler);
  }

  /** Registers a hook that runs before every command's handlers. */
  hookAllCommands(hook: CommandHook<User>): void {
    this.#router.hookAllCommands(hook);
  }

  /** Registers a handler run on every keep-alive, before the server answers it. */
  onKeepAlive(handler: KeepAliveHandler<User>): void {
    this.#router.onKeepAlive(handler);
  }

  /**
   * Registers a callback run when a user's connection ends (every
   * connection, also one whose seat is then held for a resume).
   */
  onDisconnect(callback: DisconnectCallback): void {
    this.#users.onDisconnect(callback);
  }

  /**
   * Registers a callback run when a user's seat is given up: right after
   * `onDisconnect` for a clean close, or when a held seat is released
   * (`TIDEWIRE_ERR_RESUME_EXPIRED`, `_RESUME_OVERFLOW`, a replacement, shutdown).
   * Per-user state belongs here rather than in `onDisconnect`.
   */
  onLeave(callback: LeaveCallback): void {
    this.#users.onLeave(callback);
  }

  /** Registers a callback run when a held seat is resumed on a new connection. */
  onResume(callback: ResumeCallback): void {
    this.#users.onResume(callback);
  }

  /** True when (ver, cmd) already has a handler. */
  isCommandDuplicate(ver: number, cmd: number): boolean {
    return this.#router.isCommandDuplicate(ver, cmd);
  }

  // ---- states ------------------------------------------------------------

  get state(): ServerState {
    return this.#states.current;
  }

  /** Accept new users. */
  online(): void {
    this.#states.set(ServerState.Online);
  }

  /** Accept no new users; everything else runs. */
  taken(): void {
    this.#states.set(ServerState.Taken);
  }

  /** Accept no new users and create no new sessions: the node is draining. */
  offline(): void {
    this.#states.set(ServerState.Offline);
  }

  /**
   * Polls `callback` every 2 s: true marks the server TAKEN, false ONLINE.
   * Ignored while OFFLINE. A new callback replaces the previous one.
   */
  markServerAsTakenIf(callback: () => boolean): void {
    this.#states.markServerAsTakenIf(callback);
  }

  // ---- debug commands ------------------------------------------------------

  /** Enables the debug commands (ver 0, 900-905). Off by default. */
  exposeDebugCommands(): void {
    this.#debug.expose();
  }

  /**
   * Who may run debug commands once they are exposed. Default: users
   * connected from loopback only (development); production sets a hook (an
   * admin flag in `user.data`, a token in `user.clientInfo`...).
   */
  setDebugCommandAuthorizer(authorize: (user: User) => boolean): void {
    this.#debug.setAuthorizer(authorize);
  }

  /** True once `exposeDebugCommands` was called (or config `debug` is true). */
  isDebugCommandsEnabled(): boolean {
    return this.#debug.enabled;
  }

  /** Attaches a callback to debug command `cmd` (900-905); it runs after the built-in action. */
  setDebugCommandCallback(cmd: number, callback: DebugCommandCallback): void {
    this.#debug.setCallback(cmd, callback);
  }

  /** The room registry as debug command 904 dumps it (empty without a room module). */
  roomDump(): unknown[] {
    return this.#debug.roomDump();
  }

  /**
   * For built-in modules (rooms, P2P): registers a handler for a ver 1
   * command, which applications cannot register. Same chain semantics as
   * `handleCommand`.
   */
  handleBuiltinCommand(cmd: number, handler: CommandHandler<User>): void {
    this.#router.handleReservedCommand(BUILTIN_VER, cmd, handler);
  }

  /** For the room module: what debug command 904 dumps. One provider; a later call replaces it. */
  setRoomDump(provider: () => unknown[]): void {
    this.#debug.setRoomDump(provider);
  }

  // ---- endpoints -----------------------------------------------------------

  /** The address the client transport is bound to, "host:port" ('' before start). */
  getEndPoint(): string {
    if (this.#setup.connector) return this.config.connector.endpoint;
    // The node's main transport: TCP when it runs, else the first one set up in registration order.
    const main = this.#lifecycle.listeners[0]?.listener;
    return main === undefined ? '' : formatEndpoint(main.host, main.port);
  }

  /** Sets the public "host:port" handed to clients (behind NAT, on a cloud VM). */
  setPublicEndPoint(address: string): void {
    this.#publicEndpoint.set(address);
  }

  /**
   * The public "host:port" clients are sent to: `setPublicEndPoint`'s value,
   * else the resolved public host (config `publicEndpoint`, `setupServerFor*`)
   * with the bound port, else the bound address (loopback when bound to a
   * wildcard address). '' before start.
   */
  getPublicEndPoint(): string {
    return this.#publicEndpoint.get();
  }

  /**
   * The public "host:port" UDP clients are sent to: the public host (as for
   * `getPublicEndPoint`) with the UDP port; '' without UDP. When the node also
   * runs TCP and `setPublicEndPoint` set one, its host is used with the bound
   * UDP port.
   */
  getPublicUdpEndPoint(): string {
    return this.#publicEndpoint.udp();
  }

  /** Sets the public endpoint from AWS instance metadata (IMDSv2). */
  setupServerForAWS(options?: CloudSetupOptions): Promise<void> {
    return this.#publicEndpoint.setupCloud('aws', options);
  }

  /** Sets the public endpoint from GCP instance metadata. */
  setupServerForGCP(options?: CloudSetupOptions): Promise<void> {
    return this.#publicEndpoint.setupCloud('gcp', options);
  }

  /** Sets the public endpoint from Azure IMDS. */
  setupServerForAzure(options?: CloudSetupOptions): Promise<void> {
    return this.#publicEndpoint.setupCloud('azure', options);
  }

  /** Sets the public endpoint from Alibaba Cloud ECS metadata. */
  setupServerForAlibaba(options?: CloudSetupOptions): Promise<void> {
    return this.#publicEndpoint.setupCloud('alibaba', options);
  }

  /** Sets the public endpoint from the Akamai (Linode) metadata service. */
  setupServerForLinode(options?: CloudSetupOptions): Promise<void> {
    return this.#publicEndpoint.setupCloud('linode', options);
  }

  /** Sets the public endpoint from Tencent Cloud CVM metadata. */
  setupServerForTencent(options?: CloudSetupOptions): Promise<void> {
    return this.#publicEndpoint.setupCloud('tencent', options);
  }

  /** Sets the public endpoint from "what is my address" services. */
  setupGenericCloudServer(options?: CloudSetupOptions): Promise<void> {
    return this.#publicEndpoint.setupCloud('generic', options);
  }

  isTCP(): boolean {
    return this.#setup.has(TCPType);
  }

  isUDP(): boolean {
    return this.#setup.has(UDPType);
  }

  /** The HTTP endpoint's port (after start). */
  get httpPort(): number {
    return this.#lifecycle.httpPort;
  }

  /** The TCP port (after start). */
  get tcpPort(): number {
    return this.#lifecycle.listener(TCPType)?.port ?? 0;
  }

  /** The UDP port (after start). */
  get udpPort(): number {
    return this.#lifecycle.listener(UDPType)?.port ?? 0;
  }

  /** The address the UDP transport is bound to, "host:port" ('' without UDP). */
  getUdpEndPoint(): string {
    const udp = this.#lifecycle.listener(UDPType);
    return udp === undefined ? '' : formatEndpoint(udp.host, udp.port);
  }

  // ---- users ---------------------------------------------------------------

  /** Connected users. */
  users(): IterableIterator<User> {
    return this.#users.values();
  }

  /** Number of connected users. */
  get ccu(): number {
    const connector = this.#lifecycle.connector;
    return connector !== null ? connector.ccu : this.#users.size;
  }

  getUser(userId: string): User | undefined {
    return this.#users.byId(userId);
  }

  /** Pushes one frame to every connected user; returns how many it was sent to. */
  broadcast(ver: number, cmd: number, payload: Uint8Array): number {
    return this.#users.broadcast(ver, cmd, payload);
  }

  /** Pushes a core (ver 0) message with a msgpack payload to every user. */
  broadcastCore(cmd: number, body: unknown): number {
    return this.broadcast(CORE_VER, cmd, pack(body));
  }

  // ---- cluster messages ------------------------------------------------------

  /**
   * Sends a push to a user wherever they are connected in the cluster;
   * resolves once their node delivered it (the mesh's acknowledgement).
   * Rejects `TIDEWIRE_ERR_USER_NOT_FOUND`, `TIDEWIRE_ERR_NODE_UNKNOWN` or
   * `TIDEWIRE_ERR_MESH_TIMEOUT`.
   */
  sendToUser(userId: string, ver: number, cmd: number, payload: Uint8Array): Promise<void> {
    return this.#setup.mesh.sendToUser(userId, ver, cmd, payload);
  }

  /**
   * The engine's `SendPM(nodeAddr, sid, ver, cmd, message)`: a push to
   * session `sid` on node `nodeId`, acknowledged.
   * @deprecated Use `sendToUser`.
   */
  sendPM(
    nodeId: string,
    sid: string,
    ver: number,
    cmd: number,
    message: Uint8Array,
  ): Promise<void> {
    return this.#setup.mesh.sendPM(nodeId, sid, ver, cmd, message);
  }

  /** This node's id in the cluster (the mesh's). */
  get nodeId(): string {
    return this.#setup.mesh.nodeId;
  }

  /** The cluster mesh this server runs on. */
  get mesh(): Mesh {
    return this.#setup.mesh;
  }

  // ---- notifications -------------------------------------------------------

  /** Turns notifications on (the engine's `EnableNotifications`); call once, before start. */
  enableNotifications(options: NotificationOptions = {}): void {
    this.#notifications.enable(this.#setup.mesh, options);
  }

  /**
   * Sends a notification to every connected user (passing the filter of its
   * name), on every node unless `local`, and keeps it for users who connect
   * within `ttlMs`. Resolves false when its id was used before.
   */
  notify(notification: Notification, options: { local?: boolean } = {}): Promise<boolean> {
    return this.#notifications.notifier.notify(notification, options);
  }

  /**
   * Runs `loader` every `intervalMs` and notifies what it returns; returns a stop function.
   * The first run is one interval after the call, as the seed's; `{ immediate: true }` runs it at once.
   */
  notificationService(
    name: string,
    loader: NotificationLoader,
    intervalMs: number,
    options?: NotificationServiceOptions,
  ): () => void {
    return this.#notifications.notifier.notificationService(name, loader, intervalMs, options);
  }

  /** Decides who receives notifications named `name`. */
  setOnNotification(name: string, filter: NotificationFilter<User>): void {
    this.#notifications.notifier.setOnNotification(name, filter);
  }

  /** Deletes a notification everywhere: users who connect later do not get it. */
  deleteNotification(id: string): Promise<void> {
    return this.#notifications.notifier.deleteNotification(id);
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Starts the HTTP endpoint and the transports set up. */
  start(): Promise<void> {
    return this.#lifecycle.start();
  }

  /**
   * Registers a disposer to run when the server stops, after users left and
   * the listeners closed (database pools, files). Async disposers are awaited;
   * one that fails is logged and the others still run.
   */
  onStop(listener: () => void | Promise<void>): void {
    this.#lifecycle.onStop(listener);
  }

  /**
   * Registers a listener run when shutdown begins: the server is already
   * OFFLINE, users are still connected and the mesh is open, so this is the
   * moment to tell other nodes (rooms announce that they are stopping). Runs
   * before the reconnect push; async listeners are awaited (keep them short:
   * the drain waits for them), one that fails is logged and the others still run.
   */
  onShutdown(listener: () => void | Promise<void>): void {
    this.#lifecycle.onShutdown(listener);
  }

  /**
   * Drains and stops: OFFLINE, reconnect-elsewhere to every user, wait for
   * them to leave (up to the timeout), close the rest, close the listeners.
   * Calling it again returns the same promise.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    return this.#lifecycle.shutdown(options);
  }

  /** Closes everything at once (tests, second SIGTERM): no drain. */
  close(): Promise<void> {
    return this.shutdown({ timeoutMs: 0, reconnectElsewhere: false });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Creates a server node. */
export function createServer(options: CreateServerOptions = {}): TidewireServer {
  return new TidewireServer(options);
}

export { TidewireError };
