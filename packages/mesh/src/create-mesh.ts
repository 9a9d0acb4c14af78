import { MeshErrorCode, meshError } from './errors.ts';
import { MemoryMesh, type MemoryMeshHub } from './memory-mesh.ts';
import { RedisMesh } from './redis-mesh.ts';
import type { Mesh, MeshOptions } from './types.ts';

/** The `mesh` section of a server config. */
export type MeshConfig = { type: 'memory' } | { type: 'redis'; url: string; keyPrefix?: string };

/** The environment variable that overrides `MeshConfig`: `memory` or a `redis://` URL. */
export const MESH_URL_ENV = 'TIDEWIRE_MESH_URL';

export interface CreateMeshOptions extends MeshOptions {
  /** Where `TIDEWIRE_MESH_URL` is read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** For `memory`: the hub to join (default: a hub of its own). */
  hub?: MemoryMeshHub;
  /** For `redis`: see `RedisMeshOptions`. */
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/**
 * The mesh a config asks for. A non-empty `TIDEWIRE_MESH_URL` wins: `memory`
 * gives a `MemoryMesh`, a `redis://` or `rediss://` URL a `RedisMesh` (with the
 * config's `keyPrefix` when the config is a redis one). The mesh is not started.
 */
export function createMesh(
  config: MeshConfig = { type: 'memory' },
  options: CreateMeshOptions = {},
): Mesh {
  const { env = process.env, hub, connectTimeoutMs, commandTimeoutMs, ...common } = options;
  const override = env[MESH_URL_ENV]?.trim();
  let chosen: MeshConfig = config;
  if (override !== undefined && override !== '') {
    if (override === 'memory') chosen = { type: 'memory' };
    else if (/^rediss?:\/\//.test(override)) {
      chosen = { type: 'redis', url: override };
      if (config.type === 'redis' && config.keyPrefix !== undefined)
        chosen.keyPrefix = config.keyPrefix;
    } else {
      throw meshError(
        MeshErrorCode.InvalidConfig,
        `${MESH_URL_ENV} must be "memory" or a redis:// or rediss:// URL`,
      );
    }
  }
  if (typeof chosen !== 'object' || chosen === null) {
    throw meshError(MeshErrorCode.InvalidConfig, 'mesh config must be an object');
  }
  switch (chosen.type) {
    case 'memory':
      return new MemoryMesh(hub === undefined ? common : { ...common, hub });
    case 'redis': {
      const redisOptions: ConstructorParameters<typeof RedisMesh>[0] = {
        ...common,
        url: chosen.url,
      };
      if (chosen.keyPrefix !== undefined) redisOptions.keyPrefix = chosen.keyPrefix;
      if (connectTimeoutMs !== undefined) redisOptions.connectTimeoutMs = connectTimeoutMs;
      if (commandTimeoutMs !== undefined) redisOptions.commandTimeoutMs = commandTimeoutMs;
      return new RedisMesh(redisOptions);
    }
    default:
      throw meshError(
        MeshErrorCode.InvalidConfig,
        `unknown mesh type ${String((chosen as { type?: unknown }).type)}; use "memory" or "redis"`,
      );
  }
}
