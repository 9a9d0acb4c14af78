/**
 * Composes a server's parts, each owning one concern, and wires what flows
 * between them. Parts reach each other through these callbacks and the
 * facade's public methods, never through another part's private state.
 */
import type { CommandRouter } from '@tidewire/command-router';
import type { Mesh } from '@tidewire/mesh';
import { BUILTIN_VER } from '@tidewire/wire';
import { Admission } from './admission.ts';
import { ClusterPresence } from './cluster-presence.ts';
import { createCommandRouter, routerLimits } from './commands.ts';
import type { ServerConfig } from './config.ts';
import { DebugCommands } from './debug-commands.ts';
import { type AuthenticateHook, allowAnyUser } from './http-endpoint.ts';
import { Lifecycle } from './lifecycle.ts';
import { ServerNotifications } from './notifications.ts';
import type { CreateServerOptions } from './options.ts';
import { P2PCommand, p2pHandlers } from './p2p.ts';
import { PublicEndpoint } from './public-endpoint.ts';
import { Seats } from './seats.ts';
import { ServerStates } from './server-states.ts';
import { ServerSetup } from './setup.ts';
import type { ServerState } from './state.ts';
import { type Transport, UDPType } from './transport-types.ts';
import type { User } from './user.ts';
import { userFrameHandler } from './user-frames.ts';
import { UserRegistry } from './users.ts';

/** What the parts call back on the facade: its public methods only. */
export interface ServerFacade {
  readonly nodeId: string;
  readonly ccu: number;
  readonly httpPort: number;
  online(): void;
  taken(): void;
  offline(): void;
  shutdown(): Promise<void>;
  exposeDebugCommands(): void;
  isEncryptionEnabled(transport: Transport): boolean;
  isP2PEnabled(): boolean;
  getEndPoint(): string;
  getPublicEndPoint(): string;
  getPublicUdpEndPoint(): string;
  sendToUser(userId: string, ver: number, cmd: number, payload: Uint8Array): Promise<void>;
}

export interface ServerParts {
  readonly setup: ServerSetup;
  readonly router: CommandRouter<User>;
  readonly users: UserRegistry;
  /** Resume: seats held after a link loss (protocol section 13). */
  readonly seats: Seats;
  readonly states: ServerStates;
  readonly debug: DebugCommands;
  readonly notifications: ServerNotifications;
  readonly publicEndpoint: PublicEndpoint;
  readonly presence: ClusterPresence;
  readonly lifecycle: Lifecycle;
  /** The HTTP endpoint's authenticate hook (`setAuthenticate` replaces it). */
  authenticate: AuthenticateHook;
}

export function composeServer(server: ServerFacade, options: CreateServerOptions): ServerParts {
  const logger = options.logger ?? {};
  const parts = {} as { -readonly [K in keyof ServerParts]: ServerParts[K] };
  parts.authenticate = options.authenticate ?? allowAnyUser;
  parts.setup = new ServerSetup(
    {
      logger,
      env: options.env ?? process.env,
      assertNotRunning: (what) => parts.lifecycle.assertNotRunning(what),
      onConfig: (config) => {
        // Every setting of the file takes effect: the router's limits too.
        parts.router.configure(routerLimits(config.commands));
        if (config.debug) server.exposeDebugCommands();
      },
    },
    options.config ?? {},
    options.mesh,
  );
  const mesh = (): Mesh => parts.setup.mesh;
  const config = (): ServerConfig => parts.setup.config;
  const state = (): ServerState => parts.states.current;
  const onChange = (next: ServerState): void => parts.presence.reportState(next);
  parts.states = new ServerStates({ logger, server, onChange });
  const router = createCommandRouter(() => config().commands, state, logger);
  parts.router = router;
  parts.notifications = new ServerNotifications(logger, () => parts.users.values());
  const meshOpen = (): boolean => parts.lifecycle.meshOpen;
  const onJoined = (user: User): void => parts.notifications.onUserJoined(user);
  parts.users = new UserRegistry({
    logger,
    router,
    mesh,
    meshOpen,
    onJoined,
    hold: (user, code) => parts.seats.closed(user, code),
  });
  const onUserFrame = userFrameHandler(logger, () => parts.seats);
  parts.seats = new Seats({
    logger,
    resume: () => config().resume,
    state,
    encryption: (transport) => server.isEncryptionEnabled(transport),
    lane: (user) => router.lane(user),
    onUserFrame,
    leave: (user, code) => parts.users.leave(user, code),
    reattach: (user, connection) => parts.users.reattach(user, connection),
    detach: (user, connection) => parts.users.detach(user, connection),
  });
  const admission = new Admission({
    logger,
    mesh,
    nodeId: () => server.nodeId,
    state,
    encryption: (transport) => server.isEncryptionEnabled(transport),
    lane: (user) => router.lane(user),
    onUserFrame,
    users: parts.users,
    seats: parts.seats,
    maxEarlyFrames: () => config().commands.maxQueuedCommands,
  });
  parts.debug = new DebugCommands(router, logger, {
    online: () => server.online(),
    taken: () => server.taken(),
    offline: () => server.offline(),
    terminate: () => void server.shutdown(),
  });
  parts.publicEndpoint = new PublicEndpoint({
    logger,
    cloud: options.cloud ?? {},
    config,
    listeners: () => parts.lifecycle.listeners.map((running) => running.listener),
    udp: () => parts.lifecycle.listener(UDPType),
    onChange: () => parts.presence.reportPublicEndpoint(),
  });
  parts.presence = new ClusterPresence({
    logger,
    mesh,
    config,
    state,
    ccu: () => server.ccu,
    connector: () => parts.setup.connector,
    httpPort: () => server.httpPort,
    running: () => parts.lifecycle.listeners,
    endPoint: () => server.getEndPoint(),
    publicEndPoint: () => server.getPublicEndPoint(),
    publicUdpEndPoint: () => server.getPublicUdpEndPoint(),
    publicHost: () => parts.publicEndpoint.host,
  });
  parts.lifecycle = new Lifecycle({
    logger,
    router,
    users: parts.users,
    states: parts.states,
    presence: parts.presence,
    publicEndpoint: parts.publicEndpoint,
    admission,
    httpRoutes: options.httpRoutes,
    config,
    mesh,
    authenticate: () => parts.authenticate,
    transports: () => parts.setup.transports(),
    connectorMode: () => parts.setup.connector,
    endPoint: () => server.getEndPoint(),
    beforeStart: () => {
      // P2P signalling, when UDP runs with `udp.enableP2P` (unless already registered).
      if (!server.isP2PEnabled() || router.hasHandler(BUILTIN_VER, P2PCommand.Connect)) return;
      for (const [cmd, handler] of p2pHandlers((...args) => server.sendToUser(...args))) {
        router.handleReservedCommand(BUILTIN_VER, cmd, handler);
      }
    },
    onUsersClosed: () => parts.notifications.close(),
  });
  return parts;
}
