import { channel } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type EndpointProvider,
  type PublicEndpointOptions,
  resolvePublicEndpoint,
} from '@tidewire/cloud-endpoint';
import {
  CommandError,
  type CommandHandler,
  type CommandHook,
  CommandRouter,
  type KeepAliveHandler,
  type Next,
  type RouterLane,
} from '@tidewire/command-router';
import {
  createMesh,
  endpointFor,
  type Mesh,
  type MeshConfig,
  type SessionTicket,
} from '@tidewire/mesh';
import {
  type DeliveryLedger,
  type Notification,
  type NotificationBus,
  type NotificationFilter,
  type NotificationLoader,
  Notifier,
} from '@tidewire/notifier';
import { listenTcp, type TcpConnection, type TcpListener } from '@tidewire/transport-tcp';
import { listenUdp, type UdpConnection, type UdpListener } from '@tidewire/transport-udp';
import {
  BUILTIN_VER,
  CORE_VER,
  CoreCommand,
  encodeFrame,
  type Frame,
  type Logger,
  openFrame,
  pack,
  SessionCipher,
  Status,
  TidewireError,
  unpack,
  WireErrorCode,
} from '@tidewire/wire';
import {
  formatEndpoint,
  loadConfig,
  parseEndpoint,
  resolveConfig,
  type ServerConfig,
  type ServerConfigInput,
} from './config.ts';
import { Connector, isLoopbackAddress } from './connector.ts';
import { ServerErrorCode, serverError } from './errors.ts';
import { type AuthenticateHook, allowAnyUser, HttpEndpoint } from './http-endpoint.ts';
import { P2PCommand, p2pHandlers } from './p2p.ts';
import { ServerState, TAKEN_POLL_INTERVAL_MS } from './state.ts';
import { type ClientConnection, type Transport, User } from './user.ts';

/** Called when a user's connection ends: the reason code, then the user. */
export type DisconnectCallback = (reason: string, user: User) => void;

/**
 * A debug command callback (the engine's `SetDebugCommandCallback`): gets the
 * user and payload; `respond(err, data)` answers `Err`, or `Ok` with `data`,
 * or nothing when both are absent.
 */
export type DebugCommandCallback = (
  user: User,
  payload: Buffer,
  respond: (err: Error | null, data?: Uint8Array) => void,
) => void;

export interface CreateServerOptions {
  /** Configuration (partial; defaults fill the rest). `setupAsTCPServer(path)` may load it instead. */
  config?: ServerConfigInput;
  /** Who may get a session from the HTTP endpoint. Default: any well-formed user id. */
  authenticate?: AuthenticateHook;
  /**
   * The cluster mesh: node registry, session tickets, user directory and
   * messages. Default: created (not shared) from config `mesh` (memory, or
   * Redis); `TIDEWIRE_MESH_URL` overrides the config. The server starts and
   * closes it.
   */
  mesh?: Mesh;
  /** Environment for `TIDEWIRE_MESH_URL` and `TIDEWIRE_PUBLIC_ENDPOINT`. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Options of the public endpoint lookup (`@tidewire/cloud-endpoint`): `fetch`,
   * `baseUrl` (a fake metadata service in tests), `env`, `services`.
   */
  cloud?: Omit<PublicEndpointOptions, 'signal' | 'timeoutMs' | 'logger'>;
  /**
   * More routes on the HTTP endpoint (metrics, admin): answer and return
   * true, or return false for a 404. `/healthcheck` and `/ready` are built in.
   */
  httpRoutes?: (request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>;
  logger?: Logger;
}

/** Options of `enableNotifications()`. */
export interface NotificationOptions {
  /** Cluster bus (the mesh); without it notifications stay on this node. */
  bus?: NotificationBus;
  /** Cluster-wide delivery records (the mesh); default: this process only. */
  ledger?: DeliveryLedger;
  /** Largest notification message, bytes. Default 16384. */
  maxMessageBytes?: number;
}

/** Options of `setupServerForAWS()` and its siblings. */
export interface CloudSetupOptions {
  signal?: AbortSignal;
}

export interface ShutdownOptions {
  /** How long to wait for users to leave before closing them, ms. Default: config shutdownTimeout. */
  timeoutMs?: number;
  /** Push reconnect-elsewhere (ver 0, cmd 2) to every user first. Default true. */
  reconnectElsewhere?: boolean;
}

const stateChannel = channel('tidewire:server:state');
const userChannel = channel('tidewire:server:user');

const HELLO_SID_LENGTH = 16;

/** A transport connection before its hello. */
type HelloConnection = TcpConnection | UdpConnection;
/** How often CCU changes are reported to the mesh, ms. */
const CCU_REPORT_INTERVAL_MS = 1_000;

/**
 * One Tidewire server node: the seed engine's `server` package as an object.
 * Create it, set it up as a TCP server, register handlers, then `start()`.
 */
/** A lifecycle listener must be a function: refused at registration, not when the server stops. */
function checkListener(
  what: string,
  listener: () => void | Promise<void>,
): () => void | Promise<void> {
  if (typeof listener !== 'function') {
    throw serverError(ServerErrorCode.InvalidArgument, `${what} needs a function`);
  }
  return listener;
}

export class TidewireServer {
  readonly #router: CommandRouter<User>;
  readonly #logger: Logger;
  #mesh: Mesh;
  readonly #ownMesh: boolean;
  readonly #env: Readonly<Record<string, string | undefined>>;
  #meshStarted = false;
  /** True between registerNode and the mesh's close: updates may be reported. */
  #registered = false;
  #ccuReported = -1;
  #ccuTimer: NodeJS.Timeout | null = null;
  #authenticate: AuthenticateHook;
  #config: ServerConfig;
  #transports = new Set<Transport>();
  #state: ServerState = ServerState.Online;
  #takenPoll: NodeJS.Timeout | null = null;
  #debugEnabled = false;
  readonly #debugCallbacks = new Map<number, DebugCommandCallback>();
  readonly #disconnectCallbacks: DisconnectCallback[] = [];
  readonly #usersBySid = new Map<string, User>();
  readonly #usersById = new Map<string, User>();
  /** Connections that have not said hello yet. */
  readonly #pending = new Set<HelloConnection>();
  #udp: UdpListener | null = null;
  /** Tickets consumed by UDP handshakes, by "address:port", until the connection is made. */
  readonly #udpHandshakes = new Map<string, SessionTicket>();
  /** The ticket a UDP connection's handshake was authenticated with. */
  readonly #udpTickets = new WeakMap<UdpConnection, SessionTicket>();
  #tcp: TcpListener | null = null;
  #http: HttpEndpoint | null = null;
  /** Set by setPublicEndPoint: "host:port", wins over everything. */
  #publicEndpoint = '';
  /** Resolved from config publicEndpoint or a setupServerFor* call; '' = the bound address. */
  #publicHost = '';
  /** True once a lookup succeeded (setupServerFor* before start): start() does not repeat it. */
  #publicResolved = false;
  readonly #cloudOptions: Omit<PublicEndpointOptions, 'signal' | 'timeoutMs' | 'logger'>;
  readonly #httpRoutes: CreateServerOptions['httpRoutes'];
  #running = false;
  #shutdown: Promise<void> | null = null;
  readonly #stopListeners: (() => void | Promise<void>)[] = [];
  readonly #shutdownListeners: (() => void | Promise<void>)[] = [];
  #notifier: Notifier<User> | null = null;
  #roomDump: (() => unknown[]) | null = null;
  #connectorMode = false;
  #debugAuthorizer: ((user: User) => boolean) | null = null;
  #connector: Connector | null = null;

  constructor(options: CreateServerOptions = {}) {
    this.#config = resolveConfig(options.config ?? {});
    this.#logger = options.logger ?? {};
    this.#env = options.env ?? process.env;
    this.#ownMesh = options.mesh === undefined;
    this.#mesh = options.mesh ?? this.#createMesh();
    this.#authenticate = options.authenticate ?? allowAnyUser;
    this.#cloudOptions = options.cloud ?? {};
    this.#httpRoutes = options.httpRoutes;
    this.#router = new CommandRouter<User>({
      stallWarningMs: this.#config.commands.stallWarningMs,
      stallTimeoutMs: this.#config.commands.stallTimeoutMs,
      maxQueuedCommands: this.#config.commands.maxQueuedCommands,
      ...(this.#config.commands.rateLimit > 0
        ? {
            rateLimit: {
              commandsPerSecond: this.#config.commands.rateLimit,
              ...(this.#config.commands.rateLimitBurst > 0
                ? { burst: this.#config.commands.rateLimitBurst }
                : {}),
              action: this.#config.commands.rateLimitAction,
            },
          }
        : {}),
      onRateLimited: (user, info) => {
        void user.disconnect(
          ServerErrorCode.RateLimited,
          `command (${info.ver}, ${info.cmd}) over the rate limit of ${this.#config.commands.rateLimit}/s`,
        );
      },
      logger: this.#logger,
      onUserStalled: (user, info) => {
        void user.disconnect(
          ServerErrorCode.UserStalled,
          `command (${info.ver}, ${info.cmd}) did not finish within ${info.elapsedMs} ms`,
        );
      },
      onQueueOverflow: (user, queued) => {
        void user.disconnect(ServerErrorCode.QueueOverflow, `${queued} commands queued`);
      },
      onKeepAliveDone: (user) => {
        user.send(
          CORE_VER,
          CoreCommand.KeepAlive,
          pack({ serverTime: Date.now(), state: this.#state }),
        );
      },
    });
    if (this.#config.debug) this.exposeDebugCommands();
  }

  /** The resolved configuration. */
  get config(): Readonly<ServerConfig> {
    return this.#config;
  }

  // ---- setup -------------------------------------------------------------

  /**
   * Sets the server up as a TCP server, loading the JSON config at `path`
   * (empty: the config given to the constructor, else defaults).
   */
  async setupAsTCPServer(path = ''): Promise<void> {
    await this.#setupTransport('setupAsTCPServer', path, 'tcp');
  }

  /**
   * Sets the server up as a UDP (RUDP) server, loading the JSON config at
   * `path` (empty: the config given to the constructor, else defaults). A
   * node may run TCP and UDP together.
   */
  async setupAsUDPServer(path = ''): Promise<void> {
    await this.#setupTransport('setupAsUDPServer', path, 'udp');
  }

  /** True when UDP clients may ask for direct paths to each other (config `udp.enableP2P`). */
  isP2PEnabled(): boolean {
    return this.#transports.has('udp') && this.#config.udp.enableP2P;
  }

  async #setupTransport(what: string, path: string, transport: Transport): Promise<void> {
    await this.#setup(what, path);
    if (this.#connectorMode) {
      throw serverError(
        ServerErrorCode.InvalidState,
        'a connector runs no client transport of its own',
      );
    }
    this.#transports.add(transport);
  }

  /** The common part of the setupAs* functions: not running, and the config file if one is named. */
  async #setup(what: string, path: string): Promise<void> {
    this.#assertNotRunning(what);
    if (path === '') return;
    this.#config = await loadConfig(path);
    if (this.#config.debug) this.exposeDebugCommands();
    // The file may name another mesh; a mesh given in the options stays.
    if (this.#ownMesh) this.#mesh = this.#createMesh();
  }

  /** True when sessions of `transport` (default: every transport this node runs) are sealed with AES-128-GCM. */
  isEncryptionEnabled(transport?: Transport): boolean {
    const on = (t: Transport): boolean => this.#config[t].enableEncryption;
    if (transport !== undefined) return on(transport);
    return [...this.#transports].every(on) && this.#transports.size > 0;
  }

  /**
   * Sets the node up as a connector (the engine's `SetupAsConnector`): no
   * client transport; the external real-time server at config
   * `connector.endpoint` is registered in the mesh under this node, players
   * are sent there, and it checks their sessions and reports its players
   * through the connector API (see the README). `path`: a JSON config file.
   */
  async setupAsConnector(path = ''): Promise<void> {
    await this.#setup('setupAsConnector', path);
    if (this.#config.connector.endpoint === '') {
      throw serverError(
        ServerErrorCode.InvalidConfig,
        'connector mode needs connector.endpoint ("host:port")',
      );
    }
    if (this.#transports.size > 0) {
      throw serverError(
        ServerErrorCode.InvalidState,
        'a connector runs no client transport of its own',
      );
    }
    this.#connectorMode = true;
  }

  /** True after `setupAsConnector`. */
  isConnector(): boolean {
    return this.#connectorMode;
  }

  /** Replaces the HTTP endpoint's authenticate hook. */
  setAuthenticate(hook: AuthenticateHook): void {
    this.#authenticate = hook;
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

  /** Registers a callback run when a user's connection ends. */
  onDisconnect(callback: DisconnectCallback): void {
    this.#disconnectCallbacks.push(callback);
  }

  /** True when (ver, cmd) already has a handler. */
  isCommandDuplicate(ver: number, cmd: number): boolean {
    return this.#router.isCommandDuplicate(ver, cmd);
  }

  // ---- states ------------------------------------------------------------

  get state(): ServerState {
    return this.#state;
  }

  /** Accept new users. */
  online(): void {
    this.#setState(ServerState.Online);
  }

  /** Accept no new users; everything else runs. */
  taken(): void {
    this.#setState(ServerState.Taken);
  }

  /** Accept no new users and create no new sessions: the node is draining. */
  offline(): void {
    this.#setState(ServerState.Offline);
  }

  /**
   * Polls `callback` every 2 s: true marks the server TAKEN, false ONLINE.
   * Ignored while OFFLINE. A new callback replaces the previous one.
   */
  markServerAsTakenIf(callback: () => boolean): void {
    if (typeof callback !== 'function') {
      throw serverError(ServerErrorCode.InvalidArgument, 'markServerAsTakenIf needs a function');
    }
    if (this.#takenPoll !== null) clearInterval(this.#takenPoll);
    this.#takenPoll = setInterval(() => {
      if (this.#state === ServerState.Offline) return;
      let taken: boolean;
      try {
        taken = callback() === true;
      } catch (err) {
        this.#logger.warn?.('markServerAsTakenIf callback threw', { error: String(err) });
        return;
      }
      this.#setState(taken ? ServerState.Taken : ServerState.Online);
    }, TAKEN_POLL_INTERVAL_MS);
    this.#takenPoll.unref();
  }

  #setState(next: ServerState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.#logger.info?.('server state changed', { from: previous, to: next });
    if (this.#running) this.#reportToMesh({ state: next });
    if (stateChannel.hasSubscribers)
      stateChannel.publish({ server: this, from: previous, to: next });
  }

  // ---- debug commands ------------------------------------------------------

  /** Enables the debug commands (ver 0, 900-905). Off by default. */
  exposeDebugCommands(): void {
    if (this.#debugEnabled) return;
    this.#debugEnabled = true;
    const debug = (cmd: number, builtin: (user: User) => Uint8Array | undefined): void => {
      this.#router.handleReservedCommand(CORE_VER, cmd, (_ver, _cmd, payload, user, next) => {
        if (!this.#debugAllowed(user)) {
          // As if the command did not exist: nothing tells an outsider debug is on.
          next(
            new CommandError(
              'TIDEWIRE_ERR_UNKNOWN_COMMAND',
              `no handler for command (${CORE_VER}, ${cmd})`,
              Status.Bad,
            ),
          );
          return;
        }
        const data = builtin(user);
        const callback = this.#debugCallbacks.get(cmd);
        if (callback === undefined) {
          if (data !== undefined) user.send(CORE_VER, cmd, data, Status.Ok);
          next();
          return;
        }
        callback(user, payload, (err, custom) => {
          if (err) next(err);
          else {
            const reply = custom ?? data;
            if (reply !== undefined) user.send(CORE_VER, cmd, reply, Status.Ok);
            next();
          }
        });
      });
    };
    debug(CoreCommand.DebugOnline, () => {
      this.online();
      return undefined;
    });
    debug(CoreCommand.DebugTaken, () => {
      this.taken();
      return undefined;
    });
    debug(CoreCommand.DebugOffline, () => {
      this.offline();
      return undefined;
    });
    debug(CoreCommand.DebugTerminate, () => {
      void this.shutdown();
      return undefined;
    });
    debug(CoreCommand.DebugRoomDump, () => Buffer.from(JSON.stringify(this.roomDump())));
    debug(CoreCommand.DebugUserDump, (user) => Buffer.from(JSON.stringify(user.dump())));
  }

  /**
   * Who may run debug commands once they are exposed. Default: users
   * connected from loopback only (development); production sets a hook (an
   * admin flag in `user.data`, a token in `user.clientInfo`...).
   */
  setDebugCommandAuthorizer(authorize: (user: User) => boolean): void {
    if (typeof authorize !== 'function') {
      throw serverError(ServerErrorCode.InvalidArgument, 'authorize must be a function');
    }
    this.#debugAuthorizer = authorize;
  }

  #debugAllowed(user: User): boolean {
    if (this.#debugAuthorizer !== null) {
      try {
        return this.#debugAuthorizer(user) === true;
      } catch (err) {
        this.#logger.warn?.('debug command authorizer threw: refused', {
          userId: user.id,
          error: String(err),
        });
        return false;
      }
    }
    return isLoopbackAddress(user.remoteAddress);
  }

  /** True once `exposeDebugCommands` was called (or config `debug` is true). */
  isDebugCommandsEnabled(): boolean {
    return this.#debugEnabled;
  }

  /** Attaches a callback to debug command `cmd` (900-905); it runs after the built-in action. */
  setDebugCommandCallback(cmd: number, callback: DebugCommandCallback): void {
    if (
      !Number.isInteger(cmd) ||
      cmd < CoreCommand.DebugOnline ||
      cmd > CoreCommand.DebugUserDump
    ) {
      throw serverError(ServerErrorCode.InvalidArgument, `debug commands are 900-905, got ${cmd}`);
    }
    this.#debugCallbacks.set(cmd, callback);
  }

  /** The room registry as debug command 904 dumps it (empty without a room module). */
  roomDump(): unknown[] {
    return this.#roomDump?.() ?? [];
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
    this.#roomDump = provider;
  }

  // ---- endpoints -----------------------------------------------------------

  /** The address the client transport is bound to, "host:port" ('' before start). */
  getEndPoint(): string {
    if (this.#connectorMode) return this.#config.connector.endpoint;
    if (this.#tcp === null) return '';
    return formatEndpoint(this.#tcp.host, this.#tcp.port);
  }

  /** Sets the public "host:port" handed to clients (behind NAT, on a cloud VM). */
  setPublicEndPoint(address: string): void {
    parseEndpoint(address, 'setPublicEndPoint');
    this.#publicEndpoint = address;
    this.#reportPublicEndpoint();
  }

  /**
   * The public "host:port" clients are sent to: `setPublicEndPoint`'s value,
   * else the resolved public host (config `publicEndpoint`, `setupServerFor*`)
   * with the bound port, else the bound address (loopback when bound to a
   * wildcard address). '' before start.
   */
  getPublicEndPoint(): string {
    if (this.#publicEndpoint !== '') return this.#publicEndpoint;
    const main = this.#tcp ?? this.#udp;
    if (main === null) return '';
    return formatEndpoint(this.#publicHostFor(main.host), main.port);
  }

  /**
   * The public "host:port" UDP clients are sent to: the public host (as for
   * `getPublicEndPoint`) with the UDP port; '' without UDP. When the node also
   * runs TCP and `setPublicEndPoint` set one, its host is used with the bound
   * UDP port.
   */
  getPublicUdpEndPoint(): string {
    if (this.#udp === null) return '';
    if (this.#tcp === null && this.#publicEndpoint !== '') return this.#publicEndpoint;
    const host =
      this.#publicEndpoint !== ''
        ? parseEndpoint(this.#publicEndpoint, 'public endpoint').host
        : this.#publicHostFor(this.#udp.host);
    return formatEndpoint(host, this.#udp.port);
  }

  #publicHostFor(bound: string): string {
    if (this.#publicHost !== '') return this.#publicHost;
    return bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound;
  }

  /** Sets the public endpoint from AWS instance metadata (IMDSv2). */
  setupServerForAWS(options?: CloudSetupOptions): Promise<void> {
    return this.#setupCloud('aws', options);
  }

  /** Sets the public endpoint from GCP instance metadata. */
  setupServerForGCP(options?: CloudSetupOptions): Promise<void> {
    return this.#setupCloud('gcp', options);
  }

  /** Sets the public endpoint from Azure IMDS. */
  setupServerForAzure(options?: CloudSetupOptions): Promise<void> {
    return this.#setupCloud('azure', options);
  }

  /** Sets the public endpoint from Alibaba Cloud ECS metadata. */
  setupServerForAlibaba(options?: CloudSetupOptions): Promise<void> {
    return this.#setupCloud('alibaba', options);
  }

  /** Sets the public endpoint from the Akamai (Linode) metadata service. */
  setupServerForLinode(options?: CloudSetupOptions): Promise<void> {
    return this.#setupCloud('linode', options);
  }

  /** Sets the public endpoint from Tencent Cloud CVM metadata. */
  setupServerForTencent(options?: CloudSetupOptions): Promise<void> {
    return this.#setupCloud('tencent', options);
  }

  /** Sets the public endpoint from "what is my address" services. */
  setupGenericCloudServer(options?: CloudSetupOptions): Promise<void> {
    return this.#setupCloud('generic', options);
  }

  /**
   * Makes `provider` the source of the public host and resolves it now (the
   * engine calls these once the server is ready; here any time works: before
   * start the lookup happens now and start() keeps its result).
   */
  async #setupCloud(provider: EndpointProvider, options: CloudSetupOptions = {}): Promise<void> {
    this.#config.publicEndpoint.provider = provider;
    await this.#resolvePublicHost(options.signal);
  }

  async #resolvePublicHost(signal?: AbortSignal): Promise<void> {
    const section = this.#config.publicEndpoint;
    const resolved = await resolvePublicEndpoint(
      {
        provider: section.provider,
        ...(section.address !== '' ? { address: section.address } : {}),
        ...(section.fallback !== '' ? { fallback: section.fallback } : {}),
      },
      {
        ...this.#cloudOptions,
        timeoutMs: section.timeoutMs,
        logger: this.#logger,
        ...(signal !== undefined ? { signal } : {}),
      },
    );
    // 'default' is static without an address: keep the bound address.
    this.#publicHost = resolved.source === 'default' ? '' : resolved.host;
    this.#publicResolved = true;
    this.#reportPublicEndpoint();
    this.#logger.info?.('public endpoint', {
      provider: resolved.provider,
      source: resolved.source,
      host: resolved.host,
    });
  }

  isTCP(): boolean {
    return this.#transports.has('tcp');
  }

  isUDP(): boolean {
    return this.#transports.has('udp');
  }

  /** The HTTP endpoint's port (after start). */
  get httpPort(): number {
    return this.#http?.port ?? 0;
  }

  /** The TCP port (after start). */
  get tcpPort(): number {
    return this.#tcp?.port ?? 0;
  }

  /** The UDP port (after start). */
  get udpPort(): number {
    return this.#udp?.port ?? 0;
  }

  /** The address the UDP transport is bound to, "host:port" ('' without UDP). */
  getUdpEndPoint(): string {
    return this.#udp === null ? '' : formatEndpoint(this.#udp.host, this.#udp.port);
  }

  // ---- users ---------------------------------------------------------------

  /** Connected users. */
  users(): IterableIterator<User> {
    return this.#usersBySid.values();
  }

  /** Number of connected users. */
  get ccu(): number {
    return this.#connector !== null ? this.#connector.ccu : this.#usersBySid.size;
  }

  getUser(userId: string): User | undefined {
    return this.#usersById.get(userId);
  }

  /** Pushes one frame to every connected user; returns how many it was sent to. */
  broadcast(ver: number, cmd: number, payload: Uint8Array): number {
    const frame = encodeFrame(ver, cmd, Status.Push, payload);
    let count = 0;
    for (const user of this.#usersBySid.values()) {
      if (user.sendEncoded(frame)) count++;
    }
    return count;
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Starts the HTTP endpoint and the transports set up. */
  async start(): Promise<void> {
    this.#assertNotRunning('start');
    if (this.#transports.size === 0 && !this.#connectorMode && !this.#config.http.sessions) {
      throw serverError(
        ServerErrorCode.InvalidState,
        'nothing to run: call setupAsTCPServer() before start(), or enable http.sessions for a session-only node',
      );
    }
    this.#running = true;
    const config = this.#config;
    if (this.isP2PEnabled() && !this.#router.hasHandler(BUILTIN_VER, P2PCommand.Connect)) {
      for (const [cmd, handler] of p2pHandlers((...args) => this.sendToUser(...args))) {
        this.#router.handleReservedCommand(BUILTIN_VER, cmd, handler);
      }
    }
    let meshStarted = false;
    try {
      // The mesh first: an unreachable Redis fails start at once (TIDEWIRE_ERR_MESH_UNREACHABLE).
      await this.#mesh.start();
      meshStarted = true;
      this.#meshStarted = true;
      this.#mesh.onUserMessage((target, ver, cmd, payload) =>
        this.#deliverUserMessage(target, ver, cmd, payload),
      );
      const plain = [...this.#transports].filter((t) => !config[t].enableEncryption);
      if (plain.length > 0) {
        this.#logger.warn?.(
          `encryption is off for ${plain.join(' and ')} (enableEncryption): fine on loopback, turn it on for the internet`,
        );
      }
      if (this.#transports.has('tcp'))
        this.#tcp = await listenTcp(
          {
            host: config.tcp.address,
            port: config.tcp.port,
            maxPayloadLength: config.tcp.maxRcvSize,
            idleTimeoutMs: config.tcp.connectionTTL * 1000,
            maxBufferedBytes: config.tcp.maxSendQueue,
            noDelay: config.tcp.noDelay,
            ...(config.tcp.maxConnections > 0 ? { maxConnections: config.tcp.maxConnections } : {}),
            logger: this.#logger,
          },
          (conn) => this.#onTcpConnection(conn),
        );
      if (this.#transports.has('udp')) {
        const udp = config.udp;
        this.#udp = await listenUdp(
          {
            host: udp.address,
            port: udp.port,
            mtu: udp.mtu,
            maxPayloadLength: udp.maxRcvSize,
            idleTimeoutMs: udp.connectionTTL * 1000,
            maxBufferedBytes: udp.maxSendQueue,
            ackDelayMs: udp.ackDelay,
            minRtoMs: udp.minRto,
            encryption: udp.enableEncryption,
            ...(udp.maxConnections > 0 ? { maxConnections: udp.maxConnections } : {}),
            authenticate: (sid, remote) => this.#authenticateUdp(sid, remote),
            logger: this.#logger,
          },
          (conn) => this.#onUdpConnection(conn),
        );
      }
      this.#http = new HttpEndpoint({
        host: config.http.address,
        port: config.http.port,
        sessionTtlMs: config.http.sessionTTL * 1000,
        sessions: config.http.sessions,
        authenticate: (req, uid) => this.#authenticate(req, uid),
        allocate: async (transport) => this.#allocate(transport),
        issueTicket: (ticket, ttl) => this.#mesh.issueTicket(ticket, ttl),
        extraRoutes: (req, res) => this.#route(req, res),
        onError: (err) => this.#logger.error?.('HTTP endpoint error', { error: String(err) }),
      });
      await this.#http.listen();
      if (!this.#publicResolved) await this.#resolvePublicHost();
      if (this.#connectorMode) this.#startConnector();
      await this.#registerNode();
      this.#registered = true;
    } catch (err) {
      await this.#closeListeners();
      this.#meshStarted = false;
      if (meshStarted) await this.#mesh.close();
      this.#running = false;
      throw err;
    }
    this.#ccuTimer = setInterval(() => this.#reportCcu(), CCU_REPORT_INTERVAL_MS);
    this.#ccuTimer.unref();
    this.#logger.info?.('server started', {
      http: formatEndpoint(config.http.address, this.httpPort),
      tcp: this.getEndPoint(),
    });
  }

  /**
   * Registers a disposer to run when the server stops, after users left and
   * the listeners closed (database pools, files). Async disposers are awaited;
   * one that fails is logged and the others still run.
   */
  onStop(listener: () => void | Promise<void>): void {
    this.#stopListeners.push(checkListener('onStop', listener));
  }

  /**
   * Registers a listener run when shutdown begins: the server is already
   * OFFLINE, users are still connected and the mesh is open, so this is the
   * moment to tell other nodes (rooms announce that they are stopping). Runs
   * before the reconnect push; async listeners are awaited (keep them short:
   * the drain waits for them), one that fails is logged and the others still run.
   */
  onShutdown(listener: () => void | Promise<void>): void {
    this.#shutdownListeners.push(checkListener('onShutdown', listener));
  }

  async #runListeners(listeners: (() => void | Promise<void>)[], what: string): Promise<void> {
    for (const listener of listeners) {
      try {
        await listener();
      } catch (err) {
        this.#logger.error?.(`${what} listener failed`, { error: String(err) });
      }
    }
  }

  // ---- notifications -------------------------------------------------------

  /** Turns notifications on (the engine's `EnableNotifications`); call once, before start. */
  enableNotifications(options: NotificationOptions = {}): void {
    if (this.#notifier !== null) return;
    const mesh = this.#mesh;
    this.#notifier = new Notifier<User>({
      users: () => this.#usersBySid.values(),
      bus: mesh,
      // Cluster-wide: a user who moves to another node is not served again.
      ledger: {
        markDelivered: (id, userIds, keepMs) => mesh.claim(`notify:${id}`, userIds, keepMs),
        forget: (id) => mesh.releaseClaims(`notify:${id}`),
      },
      ...options,
      logger: this.#logger,
    });
  }

  /**
   * Sends a notification to every connected user (passing the filter of its
   * name), on every node unless `local`, and keeps it for users who connect
   * within `ttlMs`. Resolves false when its id was used before.
   */
  notify(notification: Notification, options: { local?: boolean } = {}): Promise<boolean> {
    return this.#notifications().notify(notification, options);
  }

  /** Runs `loader` every `intervalMs` and notifies what it returns; returns a stop function. */
  notificationService(name: string, loader: NotificationLoader, intervalMs: number): () => void {
    return this.#notifications().notificationService(name, loader, intervalMs);
  }

  /** Decides who receives notifications named `name`. */
  setOnNotification(name: string, filter: NotificationFilter<User>): void {
    this.#notifications().setOnNotification(name, filter);
  }

  /** Deletes a notification everywhere: users who connect later do not get it. */
  deleteNotification(id: string): Promise<void> {
    return this.#notifications().deleteNotification(id);
  }

  #notifications(): Notifier<User> {
    if (this.#notifier === null) {
      throw serverError(ServerErrorCode.InvalidState, 'call enableNotifications() first');
    }
    return this.#notifier;
  }

  /**
   * Drains and stops: OFFLINE, reconnect-elsewhere to every user, wait for
   * them to leave (up to the timeout), close the rest, close the listeners.
   * Calling it again returns the same promise.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#shutdown ??= this.#drain(options);
    return this.#shutdown;
  }

  async #drain(options: ShutdownOptions): Promise<void> {
    this.offline();
    if (this.#takenPoll !== null) clearInterval(this.#takenPoll);
    this.#takenPoll = null;
    const timeoutMs = options.timeoutMs ?? this.#config.shutdownTimeout * 1000;
    await this.#runListeners(this.#shutdownListeners, 'shutdown');
    if (options.reconnectElsewhere !== false && this.#usersBySid.size > 0) {
      this.broadcastCore(CoreCommand.Reconnect, { reason: 'server is shutting down' });
    }
    await this.#waitForUsersToLeave(timeoutMs);
    await Promise.all(
      [...this.#usersBySid.values()].map((u) =>
        u.disconnect(ServerErrorCode.ServerClosing, 'server is shutting down'),
      ),
    );
    this.#notifier?.close();
    await this.#connector?.stop();
    this.#connector = null;
    await this.#closeListeners();
    this.#router.close();
    if (this.#ccuTimer !== null) clearInterval(this.#ccuTimer);
    this.#ccuTimer = null;
    this.#meshStarted = false;
    this.#registered = false;
    await this.#mesh.close().catch((err: unknown) => {
      this.#logger.warn?.('mesh close failed', { error: String(err) });
    });
    this.#running = false;
    await this.#runListeners(this.#stopListeners, 'stop');
  }

  /** Closes everything at once (tests, second SIGTERM): no drain. */
  close(): Promise<void> {
    return this.shutdown({ timeoutMs: 0, reconnectElsewhere: false });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Pushes a core (ver 0) message with a msgpack payload to every user. */
  broadcastCore(cmd: number, body: unknown): number {
    return this.broadcast(CORE_VER, cmd, pack(body));
  }

  #startConnector(): void {
    this.#connector = new Connector({
      endpoint: this.#config.connector.endpoint,
      token: this.#config.connector.token,
      command: this.#config.connector.command,
      logger: this.#logger,
      consumeSession: async (sid) => {
        const ticket = await this.#mesh.consumeTicket(sid);
        if (ticket === null || ticket.nodeId !== this.nodeId || ticket.expiresAt < Date.now())
          return null;
        return {
          userId: ticket.userId,
          key: ticket.key,
          ...(ticket.clientInfo ? { clientInfo: ticket.clientInfo } : {}),
        };
      },
      onState: (state) => this.#setState(state),
      onCcu: () => this.#reportCcu(),
    });
    this.#connector.start(`http://${formatEndpoint(this.#config.http.address, this.httpPort)}`);
  }

  #waitForUsersToLeave(timeoutMs: number): Promise<void> {
    if (this.ccu === 0 || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const poll = setInterval(() => {
        if (this.ccu === 0) done();
      }, 50);
    });
  }

  async #closeListeners(): Promise<void> {
    const tcp = this.#tcp;
    const udp = this.#udp;
    const http = this.#http;
    this.#tcp = null;
    this.#udp = null;
    this.#http = null;
    await Promise.all([tcp?.close({ graceMs: 200 }), udp?.close({ graceMs: 200 }), http?.close()]);
    this.#udpHandshakes.clear();
    for (const conn of this.#pending) conn.destroy();
    this.#pending.clear();
  }

  /**
   * Built-in routes: `GET /healthcheck` answers 200 while the process runs;
   * `GET /ready` answers 200 unless the node is OFFLINE (503), for load
   * balancers and Kubernetes readiness. Then the application's routes.
   */
  async #route(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (this.#connector !== null && (await this.#connector.route(req, res))) return true;
    if (path === '/healthcheck' || path === '/ready') {
      const ready = path === '/healthcheck' || this.#state !== ServerState.Offline;
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ status: ready ? 'ok' : 'unavailable', state: this.#state, ccu: this.ccu }),
      );
      return true;
    }
    return this.#httpRoutes !== undefined ? await this.#httpRoutes(req, res) : false;
  }

  /** Registers this node in the mesh with its public endpoint, state and load. */
  async #registerNode(): Promise<void> {
    // A connector registers the external server; a session-only node its HTTP endpoint.
    const { host, port } = this.#connectorMode
      ? parseEndpoint(this.#config.connector.endpoint, 'connector.endpoint')
      : this.#tcp !== null || this.#udp !== null
        ? parseEndpoint(this.getPublicEndPoint(), 'public endpoint')
        : { host: this.#publicHost || this.#config.http.address, port: this.httpPort };
    this.#ccuReported = this.ccu;
    await this.#mesh.registerNode({
      id: this.nodeId,
      role: this.#connectorMode
        ? this.#config.connector.transport
        : this.#tcp !== null
          ? 'tcp'
          : this.#udp !== null
            ? 'udp'
            : 'http',
      internalAddress:
        this.getEndPoint() || formatEndpoint(this.#config.http.address, this.httpPort),
      publicHost: host,
      publicPort: port,
      state: this.#state,
      ccu: this.ccu,
      load: this.#load(),
      meta: this.#meta(),
    });
  }

  /** Registry extras: the HTTP endpoint, UDP beside TCP, encryption, connector. */
  #meta(): Record<string, string> {
    const meta: Record<string, string> = {
      http: formatEndpoint(this.#config.http.address, this.httpPort),
    };
    if (this.#connectorMode) meta.connector = 'true';
    if (this.#udp !== null && this.#tcp !== null) {
      meta.roles = 'udp';
      meta['endpoint.udp'] = this.getPublicUdpEndPoint();
    }
    if (this.#udp !== null && this.#config.udp.enableEncryption) meta['encryption.udp'] = 'true';
    if (this.#tcp !== null && this.#config.tcp.enableEncryption) meta['encryption.tcp'] = 'true';
    return meta;
  }

  #load(): number {
    const max =
      (this.#tcp !== null ? this.#config.tcp.maxConnections : 0) +
      (this.#udp !== null ? this.#config.udp.maxConnections : 0);
    return max > 0 ? Math.min(1, this.ccu / max) : 0;
  }

  /** Reports CCU and load when they changed (every second at most). */
  #reportCcu(): void {
    if (this.ccu === this.#ccuReported) return;
    this.#ccuReported = this.ccu;
    this.#reportToMesh({ ccu: this.ccu, load: this.#load() });
  }

  /** After start, a new public endpoint goes to the registry (and so to new sessions). */
  #reportPublicEndpoint(): void {
    if (!this.#registered || (this.#tcp === null && this.#udp === null)) return;
    const { host, port } = parseEndpoint(this.getPublicEndPoint(), 'public endpoint');
    this.#reportToMesh({ publicHost: host, publicPort: port, meta: this.#meta() });
  }

  #reportToMesh(patch: Parameters<Mesh['updateNode']>[0]): void {
    if (!this.#registered) return;
    this.#mesh.updateNode(patch).catch((err: unknown) => {
      this.#logger.warn?.('mesh: node update failed', { error: String(err) });
    });
  }

  /** The mesh's user-message handler: delivers to a user of this node. */
  #deliverUserMessage(
    target: { userId?: string; sid: string },
    ver: number,
    cmd: number,
    payload: Uint8Array,
  ): boolean {
    const user = this.#usersBySid.get(target.sid);
    if (user === undefined || (target.userId !== undefined && user.id !== target.userId))
      return false;
    return user.push(ver, cmd, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
  }

  // ---- cluster messages ------------------------------------------------------

  /**
   * Sends a push to a user wherever they are connected in the cluster;
   * resolves once their node delivered it (the mesh's acknowledgement).
   * Rejects `TIDEWIRE_ERR_USER_NOT_FOUND`, `TIDEWIRE_ERR_NODE_UNKNOWN` or
   * `TIDEWIRE_ERR_MESH_TIMEOUT`.
   */
  sendToUser(userId: string, ver: number, cmd: number, payload: Uint8Array): Promise<void> {
    return this.#mesh.sendToUser(userId, ver, cmd, payload);
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
    return this.#mesh.sendPM(nodeId, sid, ver, cmd, message);
  }

  #assertNotRunning(what: string): void {
    if (this.#running) throw serverError(ServerErrorCode.InvalidState, `${what}() after start()`);
  }

  async #allocate(
    transport: 'tcp' | 'udp',
  ): Promise<{ nodeId: string; host: string; port: number; encryption: boolean } | null> {
    const node = await this.#mesh.selectNode(transport);
    if (node === null) return null;
    // This node's own state is authoritative even before its report reached the registry.
    if (node.id === this.nodeId && this.#state !== ServerState.Online) return null;
    const endpoint = endpointFor(node, transport);
    if (endpoint === null) return null;
    return {
      nodeId: node.id,
      ...endpoint,
      encryption: node.meta?.[`encryption.${transport}`] === 'true',
    };
  }

  /** This node's id in the cluster (the mesh's). */
  get nodeId(): string {
    return this.#mesh.nodeId;
  }

  /** The cluster mesh this server runs on. */
  get mesh(): Mesh {
    return this.#mesh;
  }

  #createMesh(): Mesh {
    const section = this.#config.mesh;
    const config: MeshConfig =
      section.type === 'redis'
        ? {
            type: 'redis',
            url: section.url,
            ...(section.keyPrefix !== '' ? { keyPrefix: section.keyPrefix } : {}),
          }
        : { type: 'memory' };
    return createMesh(config, {
      env: this.#env,
      ttlMs: section.ttlMs,
      logger: this.#logger,
      ...(this.#config.nodeId !== '' ? { nodeId: this.#config.nodeId } : {}),
    });
  }

  // ---- connections ---------------------------------------------------------

  #onTcpConnection(conn: TcpConnection): void {
    this.#awaitHello(conn, 'tcp', (sid) => this.#mesh.consumeTicket(sid));
  }

  /**
   * UDP handshake: the sid of the client's INIT must be a live UDP ticket of
   * this node. The ticket is consumed here (single use) and its key returned
   * to seal the connection; the hello that follows on the connection must
   * name the same sid.
   */
  async #authenticateUdp(
    sid: Buffer,
    remote: { address: string; port: number },
  ): Promise<{ key: Buffer | null } | null> {
    if (this.#state !== ServerState.Online || sid.length !== HELLO_SID_LENGTH) return null;
    let ticket: SessionTicket | null;
    try {
      ticket = await this.#mesh.consumeTicket(sid.toString('hex'));
    } catch (err) {
      this.#logger.error?.('ticket store failed', { error: String(err) });
      return null;
    }
    if (
      ticket === null ||
      ticket.expiresAt < Date.now() ||
      ticket.transport !== 'udp' ||
      ticket.nodeId !== this.nodeId
    ) {
      return null;
    }
    this.#udpHandshakes.set(formatEndpoint(remote.address, remote.port), ticket);
    return { key: Buffer.from(ticket.key, 'hex') };
  }

  #onUdpConnection(conn: UdpConnection): void {
    const at = formatEndpoint(conn.remoteAddress, conn.remotePort);
    const ticket = this.#udpHandshakes.get(at);
    this.#udpHandshakes.delete(at);
    if (ticket === undefined) {
      void conn.close(ServerErrorCode.SessionInvalid, 'no session for this handshake');
      return;
    }
    this.#udpTickets.set(conn, ticket);
    this.#awaitHello(conn, 'udp', async (sid) => (sid === ticket.sid ? ticket : null));
  }

  #awaitHello(
    conn: HelloConnection,
    transport: Transport,
    consume: (sid: string) => Promise<SessionTicket | null>,
  ): void {
    this.#pending.add(conn);
    conn.onClose = () => {
      this.#pending.delete(conn);
    };
    conn.onFrame = (frame: Frame) => {
      conn.onFrame = null; // frames before the hello answer are a protocol violation: ignored
      void this.#hello(conn, transport, frame, consume);
    };
  }

  async #hello(
    conn: HelloConnection,
    transport: Transport,
    frame: Frame,
    consume: (sid: string) => Promise<SessionTicket | null>,
  ): Promise<void> {
    const refuse = (code: string, message: string): void => {
      this.#pending.delete(conn);
      conn.send(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Bad, pack({ code, message })));
      void conn.close(code, message);
    };
    if (
      frame.ver !== CORE_VER ||
      frame.cmd !== CoreCommand.Hello ||
      frame.status !== Status.Request
    ) {
      refuse(ServerErrorCode.HelloRequired, 'the first frame must be hello (ver 0, cmd 4)');
      return;
    }
    if (frame.payload.length < HELLO_SID_LENGTH) {
      refuse(ServerErrorCode.SessionInvalid, 'hello must carry the 16-byte sid');
      return;
    }
    const sid = frame.payload.subarray(0, HELLO_SID_LENGTH).toString('hex');
    const sealedHello = transport === 'tcp' && this.#config.tcp.enableEncryption;
    let clientInfo: Record<string, unknown> = {};
    if (!sealedHello && frame.payload.length > HELLO_SID_LENGTH) {
      try {
        const info = unpack(frame.payload.subarray(HELLO_SID_LENGTH));
        if (typeof info !== 'object' || info === null || Array.isArray(info))
          throw new Error('not a map');
        clientInfo = info as Record<string, unknown>;
      } catch {
        refuse(ServerErrorCode.SessionInvalid, 'hello client info must be a msgpack map');
        return;
      }
    }
    if (this.#state !== ServerState.Online) {
      refuse(ServerErrorCode.NotAccepting, `server is ${this.#state} and accepts no new users`);
      return;
    }
    let ticket: SessionTicket | null;
    try {
      ticket = await consume(sid);
    } catch (err) {
      this.#logger.error?.('ticket store failed', { error: String(err) });
      refuse(ServerErrorCode.SessionInvalid, 'session could not be checked');
      return;
    }
    if (conn.closed) return;
    if (ticket === null || ticket.expiresAt < Date.now()) {
      refuse(ServerErrorCode.SessionInvalid, 'unknown, used or expired session id');
      return;
    }
    if (ticket.transport !== transport || ticket.nodeId !== this.nodeId) {
      refuse(ServerErrorCode.SessionInvalid, 'session was issued for another server or transport');
      return;
    }
    let cipher: SessionCipher | null = null;
    if (sealedHello) {
      // The rest of the hello is sealed with the session key: the client proves it holds it.
      cipher = new SessionCipher(Buffer.from(ticket.key, 'hex'), 'server');
      try {
        const info = openFrame(cipher, {
          ...frame,
          payload: frame.payload.subarray(HELLO_SID_LENGTH),
        }).payload;
        if (info.length > 0) {
          const value = unpack(info);
          if (typeof value !== 'object' || value === null || Array.isArray(value))
            throw new Error('not a map');
          clientInfo = value as Record<string, unknown>;
        }
      } catch {
        refuse(ServerErrorCode.SessionInvalid, 'hello must be sealed with the session key');
        return;
      }
    }
    this.#pending.delete(conn);
    const user = new User(
      ticket.userId,
      sid,
      transport,
      conn as ClientConnection,
      clientInfo,
      cipher,
    );
    const previous = this.#usersById.get(user.id);
    if (previous !== undefined) {
      void previous.disconnect(ServerErrorCode.Replaced, 'the same user connected again');
    }
    this.#usersBySid.set(sid, user);
    this.#usersById.set(user.id, user);
    conn.onClose = (info) => this.#onUserClosed(user, info.code);
    // The connection keeps the user's router lane (which knows the user): one
    // frame handler serves every connection, and a command looks nothing up.
    conn.data = this.#router.lane(user);
    if (transport === 'tcp') (conn as TcpConnection).onFrame = this.#onTcpUserFrame;
    else (conn as UdpConnection).onFrame = this.#onUdpUserFrame;
    user.send(
      CORE_VER,
      CoreCommand.Hello,
      pack({ userId: user.id, serverTime: Date.now(), state: this.#state }),
      Status.Ok,
    );
    if (userChannel.hasSubscribers) userChannel.publish({ user, event: 'connect' });
    this.#mesh.setUserLocation(user.id, user.sid).catch((err: unknown) => {
      this.#logger.warn?.('mesh: user location not recorded', {
        userId: user.id,
        error: String(err),
      });
    });
    this.#notifier?.onUserJoined(user).catch((err: unknown) => {
      this.#logger.error?.('notification delivery on join failed', {
        userId: user.id,
        error: String(err),
      });
    });
  }

  readonly #onTcpUserFrame = (frame: Frame, conn: TcpConnection): void => {
    this.#onUserFrame(conn.data as RouterLane<User>, frame);
  };

  readonly #onUdpUserFrame = (frame: Frame, _reliable: boolean, conn: UdpConnection): void => {
    this.#onUserFrame(conn.data as RouterLane<User>, frame);
  };

  #onUserFrame(lane: RouterLane<User>, received: Frame): void {
    const user = lane.user;
    let frame = received;
    if (user.cipher !== null) {
      try {
        frame = openFrame(user.cipher, received);
      } catch {
        this.#logger.warn?.('tcp: a frame failed authentication; closing', { userId: user.id });
        void user.disconnect(WireErrorCode.DecryptFailed, 'frame failed authentication');
        return;
      }
    }
    if (frame.status !== Status.Request) return; // clients send requests only
    if (frame.ver === CORE_VER) {
      switch (frame.cmd) {
        case CoreCommand.KeepAlive:
          if (frame.payload.length > 0) {
            try {
              const body = unpack<{ rtt?: unknown }>(frame.payload);
              if (typeof body?.rtt === 'number') user.setLatency(body.rtt);
            } catch {
              // a malformed keep-alive body only loses the latency sample
            }
          }
          lane.dispatchKeepAlive();
          return;
        case CoreCommand.Ping:
          user.send(CORE_VER, CoreCommand.Ping, frame.payload, Status.Ok);
          return;
        case CoreCommand.Hello:
          user.send(
            CORE_VER,
            CoreCommand.Hello,
            pack({ code: ServerErrorCode.InvalidState, message: 'already connected' }),
            Status.Bad,
          );
          return;
        default:
          break;
      }
    }
    lane.dispatch(frame.ver, frame.cmd, frame.payload);
  }

  #onUserClosed(user: User, reason: string): void {
    if (this.#usersBySid.get(user.sid) === user) this.#usersBySid.delete(user.sid);
    if (this.#usersById.get(user.id) === user) this.#usersById.delete(user.id);
    if (this.#meshStarted) {
      this.#mesh.removeUserLocation(user.id, user.sid).catch((err: unknown) => {
        this.#logger.debug?.('mesh: user location not removed', {
          userId: user.id,
          error: String(err),
        });
      });
    }
    this.#router.removeUser(user);
    for (const callback of this.#disconnectCallbacks) {
      try {
        callback(reason, user);
      } catch (err) {
        this.#logger.error?.('onDisconnect callback threw', { error: String(err), user: user.id });
      }
    }
    if (userChannel.hasSubscribers) userChannel.publish({ user, event: 'disconnect', reason });
  }
}

/** Creates a server node. */
export function createServer(options: CreateServerOptions = {}): TidewireServer {
  return new TidewireServer(options);
}

export { TidewireError };
