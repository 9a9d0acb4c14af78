import { readFile } from 'node:fs/promises';
import { PUBLIC_ENDPOINT_PROVIDERS, type ServerConfigInput } from '@tidewire/server';

type EndpointProviderName = (typeof PUBLIC_ENDPOINT_PROVIDERS)[number];

import { z } from 'zod';

/**
 * The reference server's config file. Every key is optional (defaults fill
 * the rest) and unknown keys are errors. The server sections follow the
 * engine's names; `metrics`, `log` and `capacity` belong to the app.
 */
const port = z.int().min(0).max(65535);
const seconds = z.number().positive();
const host = z.string().min(1);

export const AppConfigSchema = z.strictObject({
  http: z
    .strictObject({
      address: host,
      port,
      sessionTTL: seconds,
      sessions: z.boolean(),
      rateLimit: z.number().int().nonnegative(),
      rateLimitBurst: z.number().int().nonnegative(),
      rateLimitLoopback: z.boolean(),
    })
    .partial()
    .optional(),
  tcp: z
    .strictObject({
      address: host,
      port,
      connectionTTL: seconds,
      maxRcvSize: z.int().min(1).max(0xffffffff),
      maxSendQueue: z.int().min(1),
      noDelay: z.boolean(),
      maxConnections: z.int().min(0),
      enableEncryption: z.boolean(),
    })
    .partial()
    .optional(),
  udp: z
    .strictObject({
      address: host,
      port,
      connectionTTL: seconds,
      maxRcvSize: z.int().min(1).max(0xffffffff),
      mtu: z.int().min(100).max(65_000),
      enableP2P: z.boolean(),
      enableEncryption: z.boolean(),
      maxSendQueue: z.int().min(1),
      maxConnections: z.int().min(0),
      ackDelay: z.int().min(0).max(250),
      minRto: z.int().min(1).max(60_000),
    })
    .partial()
    .optional(),
  commands: z
    .strictObject({
      stallWarningMs: z.number().positive(),
      stallTimeoutMs: z.number().positive(),
      maxQueuedCommands: z.int().min(1),
      rateLimit: z.int().min(0),
      rateLimitBurst: z.int().min(0),
      rateLimitAction: z.enum(['drop', 'bad', 'disconnect']),
    })
    .partial()
    .optional(),
  publicEndpoint: z
    .strictObject({
      provider: z.enum(
        PUBLIC_ENDPOINT_PROVIDERS as [EndpointProviderName, ...EndpointProviderName[]],
      ),
      address: z.string(),
      fallback: z.string(),
      timeoutMs: z.int().positive(),
    })
    .partial()
    .optional(),
  mesh: z
    .strictObject({
      type: z.enum(['memory', 'redis']),
      url: z.string(),
      keyPrefix: z.string(),
      ttlMs: z.int().min(100),
    })
    .partial()
    .optional(),
  connector: z
    .strictObject({
      endpoint: z.string().regex(/^(\[[^\]]+\]|[^:[\]]+):\d{1,5}$/, 'expected "host:port"'),
      transport: z.enum(['tcp', 'udp']),
      token: z.string(),
      command: z.array(z.string()),
    })
    .partial()
    .optional(),
  notifications: z
    .strictObject({ enabled: z.boolean(), maxMessageBytes: z.int().positive() })
    .partial()
    .optional(),
  shutdownTimeout: seconds.optional(),
  debug: z.boolean().optional(),
  nodeId: z.string().optional(),
  metrics: z.strictObject({ enabled: z.boolean() }).partial().optional(),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']),
      pretty: z.enum(['auto', 'always', 'never']),
    })
    .partial()
    .optional(),
  capacity: z.strictObject({ maxUsers: z.int().positive() }).partial().optional(),
});

export type AppConfigFile = z.infer<typeof AppConfigSchema>;

/** The resolved app config: the server's sections plus the app's own, with defaults. */
export interface AppConfig {
  server: ServerConfigInput;
  notifications: { enabled: boolean; maxMessageBytes?: number };
  metrics: { enabled: boolean };
  log: { level: 'debug' | 'info' | 'warn' | 'error'; pretty: 'auto' | 'always' | 'never' };
  /** Users this node must hold; `undefined`: not configured (the start-up check only warns). */
  capacity: { maxUsers: number | undefined };
}

/** A config problem: names the file, the key and what was expected. */
export class ConfigError extends Error {
  readonly code = 'TIDEWIRE_ERR_INVALID_CONFIG';
}

function describe(issue: z.core.$ZodIssue): string {
  const key = issue.path.length === 0 ? '(root)' : issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length === 0 ? '' : `${key}.`;
    return `unknown key ${issue.keys.map((k) => `"${prefix}${k}"`).join(', ')}`;
  }
  return `"${key}": ${issue.message}`;
}

/** Validates a parsed config object; `source` names the file in errors. */
export function parseAppConfig(input: unknown, source: string): AppConfig {
  const result = AppConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new ConfigError(`${source}: ${result.error.issues.map(describe).join('; ')}`);
  }
  const { notifications, metrics, log, capacity, ...server } = result.data;
  return {
    server: server as ServerConfigInput,
    notifications:
      notifications?.maxMessageBytes === undefined
        ? { enabled: notifications?.enabled ?? true }
        : {
            enabled: notifications.enabled ?? true,
            maxMessageBytes: notifications.maxMessageBytes,
          },
    metrics: { enabled: metrics?.enabled ?? true },
    log: { level: log?.level ?? 'info', pretty: log?.pretty ?? 'auto' },
    capacity: { maxUsers: capacity?.maxUsers },
  };
}

/** Reads and validates a JSON config file; an empty path gives the defaults. */
export async function loadAppConfig(path: string): Promise<AppConfig> {
  if (path === '') return parseAppConfig({}, 'defaults');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return parseAppConfig(parsed, path);
}
