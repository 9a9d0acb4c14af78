/**
 * Setup: what a node is before it starts. The config (the constructor's, or
 * the files of the setupAs* calls), the mesh made from it (unless the
 * options gave one), the transports set up, or connector mode.
 */
import { createMesh, type Mesh, type MeshConfig } from '@tidewire/mesh';
import type { Logger } from '@tidewire/wire';
import {
  mergeConfigInputs,
  readConfigFile,
  resolveConfig,
  type ServerConfig,
  type ServerConfigInput,
} from './config.ts';
import { ServerErrorCode, serverError } from './errors.ts';
import type { Transport } from './transport-types.ts';
import { TRANSPORT_ADAPTERS } from './transports/registry.ts';
import type { TransportAdapter } from './user-connection.ts';

export interface SetupContext {
  readonly logger: Logger;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Throws once the node runs: setup is over. */
  assertNotRunning(what: string): void;
  /** Runs after a config file was loaded (the parts that keep settings take them). */
  onConfig(config: ServerConfig): void;
}

export class ServerSetup {
  readonly #context: SetupContext;
  readonly #ownMesh: boolean;
  #config: ServerConfig;
  #mesh: Mesh;
  /** The transports set up, by type. */
  readonly #transports = new Map<Transport, TransportAdapter>();
  #connector = false;
  /** What the setupAs* files set so far, merged (null: no file yet), and their paths. */
  #files: ServerConfigInput | null = null;
  readonly #paths: string[] = [];

  constructor(context: SetupContext, input: ServerConfigInput, mesh: Mesh | undefined) {
    this.#context = context;
    this.#config = resolveConfig(input);
    this.#ownMesh = mesh === undefined;
    this.#mesh = mesh ?? this.#createMesh();
  }

  get config(): ServerConfig {
    return this.#config;
  }

  get mesh(): Mesh {
    return this.#mesh;
  }

  get connector(): boolean {
    return this.#connector;
  }

  has(transport: Transport): boolean {
    return this.#transports.has(transport);
  }

  /** The transports set up, in registration order (the first is the node's main one). */
  transports(): TransportAdapter[] {
    return [...TRANSPORT_ADAPTERS.values()].filter((adapter) => this.#transports.has(adapter.type));
  }

  /** setupAs*Server: loads `path` (if any) and adds `transport`. */
  async transport(what: string, path: string, transport: Transport): Promise<void> {
    const adapter = TRANSPORT_ADAPTERS.get(transport);
    if (adapter === undefined) {
      throw serverError(
        ServerErrorCode.InvalidArgument,
        `no transport adapter is registered for ${JSON.stringify(transport)}`,
      );
    }
    await this.#load(what, path);
    if (this.#connector) {
      throw serverError(
        ServerErrorCode.InvalidState,
        'a connector runs no client transport of its own',
      );
    }
    this.#transports.set(transport, adapter);
  }

  /** setupAsConnector: loads `path` (if any); no transport of its own. */
  async asConnector(path: string): Promise<void> {
    await this.#load('setupAsConnector', path);
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
    this.#connector = true;
  }

  /**
   * The common part of the setupAs* functions: not running, and the config
   * file if one is named. The first file replaces the constructor's config;
   * each later one is merged over the earlier files (it wins on a key both set).
   */
  async #load(what: string, path: string): Promise<void> {
    this.#context.assertNotRunning(what);
    if (path === '') return;
    const input = await readConfigFile(path);
    const files = this.#files === null ? input : mergeConfigInputs(this.#files, input);
    const config = resolveConfig(files, [...this.#paths, path].join(' + '));
    this.#files = files;
    this.#paths.push(path);
    this.#config = config;
    this.#context.onConfig(this.#config);
    // The file may name another mesh; a mesh given in the options stays.
    if (this.#ownMesh) this.#mesh = this.#createMesh();
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
      env: this.#context.env,
      ttlMs: section.ttlMs,
      logger: this.#context.logger,
      ...(this.#config.nodeId !== '' ? { nodeId: this.#config.nodeId } : {}),
    });
  }
}
