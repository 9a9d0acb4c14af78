import { readFile } from 'node:fs/promises';
import { type EndpointProvider, PROVIDER_NAMES } from '@tidewire/cloud-endpoint';
import { DEFAULT_MAX_PAYLOAD_LENGTH, parseHostPort } from '@tidewire/wire';
import { ServerErrorCode, serverError } from './errors.ts';

/** Settings of the HTTP session endpoint. */
export interface HttpConfig {
  /** Bind address. Default '127.0.0.1'. */
  address: string;
  /** Port. Default 7000; 0 picks a free port. */
  port: number;
  /** How long a session ticket (sid, key) stays valid, in seconds. Default 30. */
  sessionTTL: number;
  /**
   * Serve the session endpoint (`/v1/endpoint/...`) on this node. Default
   * true. Transport-only nodes of a cluster turn it off; the HTTP listener
   * still serves health checks and application routes.
   */
  sessions: boolean;
  /**
   * Session requests each client address may make per second (a token
   * bucket; past it: 429 with `Retry-After`). Default 20; 0 turns it off.
   */
  rateLimit: number;
  /** Session requests an address may make at once before the rate applies. Default 100. */
  rateLimitBurst: number;
  /**
   * Limit loopback addresses too. Default false: load tests and local tools
   * are not limited. Behind a reverse proxy on the same host every client is
   * a loopback address: limit at the proxy instead.
   */
  rateLimitLoopback: boolean;
}

/** Settings of the TCP transport. */
export interface TcpConfig {
  /** Bind address. Default '127.0.0.1'. */
  address: string;
  /** Port. Default 7200; 0 picks a free port. */
  port: number;
  /** Seconds without any frame from a client before it is disconnected. Default 10. */
  connectionTTL: number;
  /** Largest frame payload accepted from clients, in bytes. Default 65536. */
  maxRcvSize: number;
  /** Largest number of bytes queued for one slow client before it is disconnected. Default 1 MiB. */
  maxSendQueue: number;
  /** TCP_NODELAY. Default true. */
  noDelay: boolean;
  /** Refuse connections past this many. Default 0: no limit. */
  maxConnections: number;
  /**
   * Seal every frame after the hello with AES-128-GCM under the session key
   * (the hello proves the client holds the key). Default false.
   */
  enableEncryption: boolean;
}

/** Settings of the UDP (RUDP) transport. */
export interface UdpConfig {
  /** Bind address. Default '127.0.0.1'. */
  address: string;
  /** Port. Default 7100; 0 picks a free port. */
  port: number;
  /** Seconds without a valid datagram before a client is disconnected. Default 10. */
  connectionTTL: number;
  /** Largest frame payload accepted from clients (after reassembly), bytes. Default 65536. */
  maxRcvSize: number;
  /** Datagram payload budget, bytes. Default 1200. */
  mtu: number;
  /** Seal every packet with AES-128-GCM under the session key. Default false. */
  enableEncryption: boolean;
  /** Bytes queued for one slow client before it is disconnected. Default 1 MiB. */
  maxSendQueue: number;
  /** Refuse connections past this many. Default 0: the transport's own cap (100 000). */
  maxConnections: number;
  /** Peer-to-peer signalling and relay between clients (ver 1, cmds 10-15). Default false. */
  enableP2P: boolean;
  /**
   * Milliseconds (0..250) the server may hold the ACK of a client's packet for
   * it to ride with a push or an answer (transport-udp's `ackDelayMs`).
   * Default 0: at once. Worth it when clients send reliable commands that get
   * no answer while the server pushes at a steady rate.
   */
  ackDelay: number;
  /**
   * Lower bound of the retransmission timeout, ms (transport-udp's
   * `minRtoMs`). Default 10: quick recovery of lost packets; clients whose
   * process stalls longer than this (busy devices, one process holding many
   * bots) draw spurious retransmissions: raise it then.
   */
  minRto: number;
}

/** Settings of user command processing. */
export interface CommandsConfig {
  /** Warn when a handler has not called next after this many milliseconds. Default 5000. */
  stallWarningMs: number;
  /** Disconnect a user whose commands have been stuck this long, in ms. Default: connectionTTL. */
  stallTimeoutMs: number;
  /** Commands queued per user before the user is disconnected. Default 512. */
  maxQueuedCommands: number;
  /** Commands per second a user may send (keep-alives not counted); 0 (default): no limit. */
  rateLimit: number;
  /** Burst above the rate; 0 (default): one second's worth. */
  rateLimitBurst: number;
  /** Over the limit: 'drop', 'bad' (default: answered Bad `TIDEWIRE_ERR_RATE_LIMITED`) or 'disconnect'. */
  rateLimitAction: 'drop' | 'bad' | 'disconnect';
}

/** Where the public address handed to clients comes from (`@tidewire/cloud-endpoint`). */
export interface PublicEndpointSection {
  /**
   * 'static' (default: `address`, else the bound address, never any network
   * call), a cloud ('aws', 'gcp', 'azure', 'alibaba', 'tencent', 'linode'),
   * 'generic' ("what is my address" services) or 'auto' (detect the cloud).
   */
  provider: EndpointProvider;
  /** An explicit public IP or host name; wins over any provider. Default ''. */
  address: string;
  /** Used, with a warning, when the provider fails; otherwise start() fails. Default ''. */
  fallback: string;
  /** Deadline of the provider lookup, in ms. Default 1000. */
  timeoutMs: number;
}

/** The cluster mesh (`@tidewire/mesh`); `TIDEWIRE_MESH_URL` overrides it. */
export interface MeshSection {
  /** 'memory' (default: this process is the whole cluster) or 'redis'. */
  type: 'memory' | 'redis';
  /** Redis URL (`redis://host:port`), for type 'redis'. */
  url: string;
  /** Key prefix, so clusters can share a Redis. Default '' (the mesh's own default). */
  keyPrefix: string;
  /** A node that stops heart-beating leaves the registry after this many ms. Default 6000. */
  ttlMs: number;
}

/** Connector mode (`setupAsConnector`): an external real-time server the node registers. */
export interface ConnectorSection {
  /** Public "host:port" of the external server: where players are sent. Required in connector mode. */
  endpoint: string;
  /** The transport players use to reach it; sessions of that transport go there. Default 'tcp'. */
  transport: 'tcp' | 'udp';
  /** Shared secret of the external server's calls to the connector API; '' allows loopback callers only. */
  token: string;
  /** The external server's command line, started and stopped by the node. Default []: started elsewhere. */
  command: string[];
}

/** Reconnect and resume (protocol section 13). */
export interface ResumeSection {
  /**
   * How long a user's seat is held after its connection died for a link
   * reason (not the client's close, not a kick), for the client to resume
   * it, ms. Default 20000; 0 turns resume off.
   */
  ttlMs: number;
  /** Most unacknowledged reliable frames kept per user; past it the seat can no longer be resumed. Default 1024. */
  maxBufferedFrames: number;
  /** Most bytes of those frames (payload + 10 each) per user. Default 1 MiB. */
  maxBufferedBytes: number;
}

export interface ServerConfig {
  http: HttpConfig;
  tcp: TcpConfig;
  udp: UdpConfig;
  commands: CommandsConfig;
  /** The public host handed to clients with the bound port; default: the bound address. */
  publicEndpoint: PublicEndpointSection;
  mesh: MeshSection;
  connector: ConnectorSection;
  resume: ResumeSection;
  /** Seconds the server waits for clients to leave on shutdown (903, SIGTERM). Default 30. */
  shutdownTimeout: number;
  /** Enable the debug commands 900-905 at start. Default false. */
  debug: boolean;
  /** Identifier of this node in the cluster. Default: a random id. */
  nodeId: string;
}

/** A config as written by users: every field optional, sections partial. */
export type ServerConfigInput = {
  [K in keyof ServerConfig]?: ServerConfig[K] extends object
    ? Partial<ServerConfig[K]>
    : ServerConfig[K];
};

export const DEFAULT_CONFIG: ServerConfig = {
  http: {
    address: '127.0.0.1',
    port: 7000,
    sessionTTL: 30,
    sessions: true,
    rateLimit: 20,
    rateLimitBurst: 100,
    rateLimitLoopback: false,
  },
  tcp: {
    address: '127.0.0.1',
    port: 7200,
    connectionTTL: 10,
    maxRcvSize: DEFAULT_MAX_PAYLOAD_LENGTH,
    maxSendQueue: 1024 * 1024,
    noDelay: true,
    maxConnections: 0,
    enableEncryption: false,
  },
  udp: {
    address: '127.0.0.1',
    port: 7100,
    connectionTTL: 10,
    maxRcvSize: DEFAULT_MAX_PAYLOAD_LENGTH,
    mtu: 1200,
    enableEncryption: false,
    maxSendQueue: 1024 * 1024,
    maxConnections: 0,
    enableP2P: false,
    ackDelay: 0,
    minRto: 10,
  },
  commands: {
    stallWarningMs: 5000,
    stallTimeoutMs: 10_000,
    maxQueuedCommands: 512,
    rateLimit: 0,
    rateLimitBurst: 0,
    rateLimitAction: 'bad',
  },
  publicEndpoint: { provider: 'static', address: '', fallback: '', timeoutMs: 1000 },
  mesh: { type: 'memory', url: '', keyPrefix: '', ttlMs: 6000 },
  connector: { endpoint: '', transport: 'tcp', token: '', command: [] },
  resume: { ttlMs: 20_000, maxBufferedFrames: 1024, maxBufferedBytes: 1024 * 1024 },
  shutdownTimeout: 30,
  debug: false,
  nodeId: '',
};

type FieldKind =
  | 'string'
  | 'port'
  | 'positive'
  | 'nonNegativeInt'
  | 'boolean'
  | 'host'
  | 'meshType'
  | 'rateAction'
  | 'transport'
  | 'stringArray'
  | 'provider';

/** The values of `publicEndpoint.provider`. */
export const PUBLIC_ENDPOINT_PROVIDERS: readonly EndpointProvider[] = [
  'static',
  ...PROVIDER_NAMES,
  'auto',
];
const PROVIDERS: readonly string[] = PUBLIC_ENDPOINT_PROVIDERS;

const SCHEMA: { [S in keyof ServerConfig]: FieldKind | Record<string, FieldKind> } = {
  http: {
    address: 'host',
    port: 'port',
    sessionTTL: 'positive',
    sessions: 'boolean',
    rateLimit: 'nonNegativeInt',
    rateLimitBurst: 'nonNegativeInt',
    rateLimitLoopback: 'boolean',
  },
  tcp: {
    address: 'host',
    port: 'port',
    connectionTTL: 'positive',
    maxRcvSize: 'nonNegativeInt',
    maxSendQueue: 'nonNegativeInt',
    noDelay: 'boolean',
    maxConnections: 'nonNegativeInt',
    enableEncryption: 'boolean',
  },
  udp: {
    address: 'host',
    port: 'port',
    connectionTTL: 'positive',
    maxRcvSize: 'nonNegativeInt',
    mtu: 'nonNegativeInt',
    enableEncryption: 'boolean',
    maxSendQueue: 'nonNegativeInt',
    maxConnections: 'nonNegativeInt',
    enableP2P: 'boolean',
    ackDelay: 'nonNegativeInt',
    minRto: 'positive',
  },
  commands: {
    stallWarningMs: 'positive',
    stallTimeoutMs: 'positive',
    maxQueuedCommands: 'nonNegativeInt',
    rateLimit: 'nonNegativeInt',
    rateLimitBurst: 'nonNegativeInt',
    rateLimitAction: 'rateAction',
  },
  publicEndpoint: {
    provider: 'provider',
    address: 'string',
    fallback: 'string',
    timeoutMs: 'positive',
  },
  mesh: { type: 'meshType', url: 'string', keyPrefix: 'string', ttlMs: 'positive' },
  connector: {
    endpoint: 'string',
    transport: 'transport',
    token: 'string',
    command: 'stringArray',
  },
  resume: {
    ttlMs: 'nonNegativeInt',
    maxBufferedFrames: 'positive',
    maxBufferedBytes: 'positive',
  },
  shutdownTimeout: 'positive',
  debug: 'boolean',
  nodeId: 'string',
};

const EXPECTED: Record<FieldKind, string> = {
  string: 'a string',
  host: 'a non-empty host name or IP address',
  port: 'an integer port in 0..65535',
  positive: 'a number greater than 0',
  nonNegativeInt: 'an integer >= 0',
  boolean: 'true or false',
  meshType: "'memory' or 'redis'",
  rateAction: "'drop', 'bad' or 'disconnect'",
  transport: "'tcp' or 'udp'",
  stringArray: 'an array of strings',
  provider: `one of ${PROVIDERS.map((p) => `'${p}'`).join(', ')}`,
};

function valid(kind: FieldKind, value: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'host':
      return typeof value === 'string' && value.length > 0;
    case 'port':
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535;
    case 'positive':
      return typeof value === 'number' && Number.isFinite(value) && value > 0;
    case 'nonNegativeInt':
      return Number.isInteger(value) && (value as number) >= 0;
    case 'boolean':
      return typeof value === 'boolean';
    case 'transport':
      return value === 'tcp' || value === 'udp';
    case 'stringArray':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'rateAction':
      return value === 'drop' || value === 'bad' || value === 'disconnect';
    case 'meshType':
      return value === 'memory' || value === 'redis';
    case 'provider':
      return typeof value === 'string' && PROVIDERS.includes(value);
  }
}

function fail(source: string, key: string, expected: string, value: unknown): never {
  throw serverError(
    ServerErrorCode.InvalidConfig,
    `${source}: "${key}" must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
  );
}

/**
 * Validates a config object and fills in defaults. Unknown keys are errors.
 * `source` names the file (or "config") in error messages.
 */
export function resolveConfig(input: unknown, source = 'config'): ServerConfig {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) fail(source, '(root)', 'an object', input);
  const out = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    const rule = SCHEMA[key as keyof ServerConfig];
    if (rule === undefined) {
      fail(source, key, `one of the known keys (${Object.keys(SCHEMA).join(', ')})`, value);
    }
    if (typeof rule === 'string') {
      if (!valid(rule, value)) fail(source, key, EXPECTED[rule], value);
      out[key] = value;
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fail(source, key, 'an object', value);
    }
    const section = out[key] as Record<string, unknown>;
    for (const [field, fieldValue] of Object.entries(value as Record<string, unknown>)) {
      const kind = rule[field];
      if (kind === undefined) {
        fail(source, `${key}.${field}`, `one of ${Object.keys(rule).join(', ')}`, fieldValue);
      }
      if (!valid(kind, fieldValue)) fail(source, `${key}.${field}`, EXPECTED[kind], fieldValue);
      section[field] = fieldValue;
    }
  }
  const config = out as unknown as ServerConfig;
  if (config.connector.endpoint !== '')
    parseEndpoint(config.connector.endpoint, `${source}: "connector.endpoint"`);
  if (config.mesh.type === 'redis' && !/^rediss?:\/\//.test(config.mesh.url)) {
    fail(
      source,
      'mesh.url',
      'a redis:// or rediss:// URL when mesh.type is "redis"',
      config.mesh.url,
    );
  }
  const commands = (input as ServerConfigInput).commands;
  if (commands?.stallTimeoutMs === undefined) {
    config.commands.stallTimeoutMs = config.tcp.connectionTTL * 1000;
  }
  return config;
}

/** Reads and validates a JSON config file; an empty path gives the defaults. */
export async function loadConfig(path: string): Promise<ServerConfig> {
  if (path === '') return resolveConfig({});
  return resolveConfig(await readConfigFile(path), path);
}

/** Reads a JSON config file and validates it (errors name the file); returns what it sets. */
export async function readConfigFile(path: string): Promise<ServerConfigInput> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw serverError(ServerErrorCode.InvalidConfig, `cannot read config file ${path}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw serverError(
      ServerErrorCode.InvalidConfig,
      `${path}: not valid JSON (${(err as Error).message})`,
      err,
    );
  }
  resolveConfig(parsed, path);
  return (parsed ?? {}) as ServerConfigInput;
}

/**
 * Merges two config inputs key by key: on a key both set (`tcp.port`,
 * `debug`), `over` wins; what only `base` sets stays.
 */
export function mergeConfigInputs(
  base: ServerConfigInput,
  over: ServerConfigInput,
): ServerConfigInput {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const previous = merged[key];
    merged[key] =
      isPlainObject(previous) && isPlainObject(value) ? { ...previous, ...value } : value;
  }
  return merged as ServerConfigInput;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Splits "host:port" (IPv6 as "[::1]:7200"). Throws InvalidConfig naming `source`. */
export function parseEndpoint(value: string, source = 'endpoint'): { host: string; port: number } {
  const endpoint = parseHostPort(value);
  if (endpoint === null) {
    throw serverError(
      ServerErrorCode.InvalidConfig,
      `${source}: endpoint must be "host:port" (IPv6 as "[addr]:port"), got ${JSON.stringify(value)}`,
    );
  }
  return endpoint;
}

/** Formats host and port as "host:port", bracketing IPv6 addresses. */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
