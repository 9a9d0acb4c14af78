import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PublicEndpointOptions } from '@tidewire/cloud-endpoint';
import type { Mesh } from '@tidewire/mesh';
import type { DeliveryLedger, NotificationBus } from '@tidewire/notifier';
import type { Logger } from '@tidewire/wire';
import type { ServerConfigInput } from './config.ts';
import type { AuthenticateHook } from './http-endpoint.ts';

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
