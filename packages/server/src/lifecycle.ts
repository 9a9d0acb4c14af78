/**
 * The node's lifecycle: `start` (mesh, HTTP endpoint, transports, public
 * endpoint, connector, registration, in that order, undone on failure) and
 * `shutdown` (OFFLINE, shutdown listeners, reconnect-elsewhere, wait for users
 * up to the timeout, close the rest, the listeners, the router and the mesh,
 * then stop listeners). Owns what runs: the transport listeners, the HTTP
 * endpoint and the connector.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { CommandRouter } from '@tidewire/command-router';
import type { Mesh } from '@tidewire/mesh';
import { CORE_VER, CoreCommand, type Logger, pack } from '@tidewire/wire';
import type { Admission } from './admission.ts';
import type { ClusterPresence } from './cluster-presence.ts';
import { formatEndpoint, type ServerConfig } from './config.ts';
import { Connector } from './connector.ts';
import { ServerErrorCode, serverError } from './errors.ts';
import { type AuthenticateHook, HttpEndpoint } from './http-endpoint.ts';
import type { PublicEndpoint } from './public-endpoint.ts';
import type { ServerStates } from './server-states.ts';
import { ServerState } from './state.ts';
import type { Transport } from './transport-types.ts';
import type { User } from './user.ts';
import type { TransportAdapter, TransportHost, TransportListener } from './user-connection.ts';
import type { UserRegistry } from './users.ts';

export interface ShutdownOptions {
  /** How long to wait for users to leave before closing them, ms. Default: config shutdownTimeout. */
  timeoutMs?: number;
  /** Push reconnect-elsewhere (ver 0, cmd 2) to every user first. Default true. */
  reconnectElsewhere?: boolean;
}

type Listener = () => void | Promise<void>;

export interface LifecycleContext {
  readonly logger: Logger;
  readonly router: CommandRouter<User>;
  readonly users: UserRegistry;
  readonly states: ServerStates;
  readonly presence: ClusterPresence;
  readonly publicEndpoint: PublicEndpoint;
  readonly admission: Admission;
  readonly httpRoutes:
    | ((request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>)
    | undefined;
  config(): ServerConfig;
  mesh(): Mesh;
  authenticate(): AuthenticateHook;
  /** The transports set up, in registration order. */
  transports(): readonly TransportAdapter[];
  connectorMode(): boolean;
  /** `getEndPoint()`, for the start log line. */
  endPoint(): string;
  /** Runs first in `start` (built-in command modules that depend on the final config). */
  beforeStart(): void;
  /** Runs when the drain closes the users (the notifier stops). */
  onUsersClosed(): void;
}

export class Lifecycle {
  readonly #context: LifecycleContext;
  readonly #stopListeners: Listener[] = [];
  readonly #shutdownListeners: Listener[] = [];
  #running = false;
  #meshOpen = false;
  #shutdown: Promise<void> | null = null;
  #listeners: { adapter: TransportAdapter; listener: TransportListener }[] = [];
  #http: HttpEndpoint | null = null;
  #connector: Connector | null = null;

  constructor(context: LifecycleContext) {
    this.#context = context;
  }

  get running(): boolean {
    return this.#running;
  }

  /** True while the mesh is open (between its start and the drain's end). */
  get meshOpen(): boolean {
    return this.#meshOpen;
  }

  get httpPort(): number {
    return this.#http?.port ?? 0;
  }

  get connector(): Connector | null {
    return this.#connector;
  }

  /** The running transports, in registration order. */
  get listeners(): readonly { adapter: TransportAdapter; listener: TransportListener }[] {
    return this.#listeners;
  }

  listener(type: Transport): TransportListener | undefined {
    return this.#listeners.find((running) => running.adapter.type === type)?.listener;
  }

  assertNotRunning(what: string): void {
    if (this.#running) throw serverError(ServerErrorCode.InvalidState, `${what}() after start()`);
  }

  onStop(listener: Listener): void {
    this.#stopListeners.push(checkListener('onStop', listener));
  }

  onShutdown(listener: Listener): void {
    this.#shutdownListeners.push(checkListener('onShutdown', listener));
  }

  async start(): Promise<void> {
    const context = this.#context;
    this.assertNotRunning('start');
    const transports = context.transports();
    if (transports.length === 0 && !context.connectorMode() && !context.config().http.sessions) {
      throw serverError(
        ServerErrorCode.InvalidState,
        'nothing to run: call setupAsTCPServer() before start(), or enable http.sessions for a session-only node',
      );
    }
    this.#running = true;
    const config = context.config();
    const mesh = context.mesh();
    context.beforeStart();
    let meshStarted = false;
    try {
      // The mesh first: an unreachable Redis fails start at once (TIDEWIRE_ERR_MESH_UNREACHABLE).
      await mesh.start();
      meshStarted = true;
      this.#meshOpen = true;
      mesh.onUserMessage((target, ver, cmd, payload) =>
        context.users.deliver(target, ver, cmd, payload),
      );
      const plain = transports.filter((t) => !t.encryption(config)).map((t) => t.type);
      if (plain.length > 0) {
        context.logger.warn?.(
          `encryption is off for ${plain.join(' and ')} (enableEncryption): fine on loopback, turn it on for the internet`,
        );
      }
      // HTTP first: a transport may attach to its server.
      const http = new HttpEndpoint({
        host: config.http.address,
        port: config.http.port,
        sessionTtlMs: config.http.sessionTTL * 1000,
        sessions: config.http.sessions,
        authenticate: (req, uid) => context.authenticate()(req, uid),
        allocate: async (transport, avoid) => context.presence.allocate(transport, avoid),
        issueTicket: (ticket, ttl) => mesh.issueTicket(ticket, ttl),
        rateLimit: {
          perSecond: config.http.rateLimit,
          burst: config.http.rateLimitBurst,
          loopback: config.http.rateLimitLoopback,
        },
        onStoreOutage: (down, err) => {
          if (down) {
            context.logger.error?.(
              'cluster store unavailable: session requests answer 503 until it is back',
              { error: String(err) },
            );
          } else context.logger.info?.('cluster store available again: session requests served');
        },
        extraRoutes: (req, res) => this.#route(req, res),
        onError: (err) => context.logger.error?.('HTTP endpoint error', { error: String(err) }),
      });
      this.#http = http;
      await http.listen();
      const host: TransportHost = {
        logger: context.logger,
        httpServer: http.server as Server,
        accept: (connection, ticket) => context.admission.accept(connection, ticket),
        claimTicket: (transport, sid) => context.admission.claimTicket(transport, sid),
        resumeKey: (id) => context.admission.resumeKey(id),
      };
      for (const adapter of transports) {
        this.#listeners.push({ adapter, listener: await adapter.listen(config, host) });
      }
      if (!context.publicEndpoint.resolved) await context.publicEndpoint.resolve();
      if (context.connectorMode()) this.#startConnector();
      await context.presence.register();
    } catch (err) {
      await this.#closeListeners();
      this.#meshOpen = false;
      if (meshStarted) await mesh.close();
      this.#running = false;
      throw err;
    }
    context.logger.info?.('server started', {
      http: formatEndpoint(config.http.address, this.httpPort),
      tcp: context.endPoint(),
    });
  }

  /** Drains and stops; calling it again returns the same promise. */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#shutdown ??= this.#drain(options);
    return this.#shutdown;
  }

  async #drain(options: ShutdownOptions): Promise<void> {
    const context = this.#context;
    context.states.set(ServerState.Offline);
    context.states.stopPolling();
    const timeoutMs = options.timeoutMs ?? context.config().shutdownTimeout * 1000;
    await runListeners(this.#shutdownListeners, 'shutdown', context.logger);
    if (options.reconnectElsewhere !== false && context.users.size > 0) {
      context.users.broadcast(
        CORE_VER,
        CoreCommand.Reconnect,
        pack({ reason: 'server is shutting down' }),
      );
    }
    await this.#waitForUsersToLeave(timeoutMs);
    await context.users.disconnectAll(ServerErrorCode.ServerClosing, 'server is shutting down');
    context.onUsersClosed();
    await this.#connector?.stop();
    this.#connector = null;
    await this.#closeListeners();
    context.router.close();
    context.presence.unregister();
    this.#meshOpen = false;
    await context
      .mesh()
      .close()
      .catch((err: unknown) => {
        context.logger.warn?.('mesh close failed', { error: String(err) });
      });
    this.#running = false;
    await runListeners(this.#stopListeners, 'stop', context.logger);
  }

  #ccu(): number {
    return this.#connector !== null ? this.#connector.ccu : this.#context.users.size;
  }

  #waitForUsersToLeave(timeoutMs: number): Promise<void> {
    if (this.#ccu() === 0 || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const poll = setInterval(() => {
        if (this.#ccu() === 0) done();
      }, 50);
    });
  }

  async #closeListeners(): Promise<void> {
    const listeners = this.#listeners;
    const http = this.#http;
    this.#listeners = [];
    this.#http = null;
    await Promise.all([...listeners.map(({ listener }) => listener.close()), http?.close()]);
    this.#context.admission.destroyPending();
  }

  #startConnector(): void {
    const context = this.#context;
    const config = context.config();
    const mesh = context.mesh();
    this.#connector = new Connector({
      endpoint: config.connector.endpoint,
      token: config.connector.token,
      command: config.connector.command,
      logger: context.logger,
      consumeSession: async (sid) => {
        const ticket = await mesh.consumeTicket(sid);
        if (ticket === null || ticket.nodeId !== mesh.nodeId || ticket.expiresAt < Date.now())
          return null;
        return {
          userId: ticket.userId,
          key: ticket.key,
          ...(ticket.clientInfo ? { clientInfo: ticket.clientInfo } : {}),
        };
      },
      onState: (state) => context.states.set(state),
      onCcu: () => context.presence.reportCcu(),
    });
    this.#connector.start(`http://${formatEndpoint(config.http.address, this.httpPort)}`);
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
      const state = this.#context.states.current;
      const ready = path === '/healthcheck' || state !== ServerState.Offline;
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ready ? 'ok' : 'unavailable', state, ccu: this.#ccu() }));
      return true;
    }
    const routes = this.#context.httpRoutes;
    return routes !== undefined ? await routes(req, res) : false;
  }
}

/** A lifecycle listener must be a function: refused at registration, not when the server stops. */
function checkListener(what: string, listener: Listener): Listener {
  if (typeof listener !== 'function') {
    throw serverError(ServerErrorCode.InvalidArgument, `${what} needs a function`);
  }
  return listener;
}

async function runListeners(listeners: Listener[], what: string, logger: Logger): Promise<void> {
  for (const listener of listeners) {
    try {
      await listener();
    } catch (err) {
      logger.error?.(`${what} listener failed`, { error: String(err) });
    }
  }
}
