import { ipFamily, normaliseHost } from './address.ts';
import { type DetectOptions, detect, METADATA_RESOLVERS } from './detect.ts';
import { CloudEndpointError, CloudEndpointErrorCode } from './errors.ts';
import { resolveGeneric } from './providers/generic.ts';
import type { GenericResolveOptions, ProviderName, PublicAddress } from './types.ts';

/** The environment variable that, when set, is the public endpoint whatever the config says. */
export const PUBLIC_ENDPOINT_ENV = 'TIDEWIRE_PUBLIC_ENDPOINT';
/** The endpoint of `provider: 'static'` without an address: loopback, no network. */
export const DEFAULT_STATIC_HOST = '127.0.0.1';

/** Where the endpoint comes from. */
export type EndpointProvider = ProviderName | 'static' | 'auto';

/** The server's `publicEndpoint` configuration. */
export interface PublicEndpointConfig {
  provider: EndpointProvider;
  /** An explicit IP address or host name; wins over any probing. Blank counts as unset. */
  address?: string;
  /** Used (with a warning) when the provider fails, instead of failing. */
  fallback?: string;
}

export interface PublicEndpointOptions extends GenericResolveOptions {
  /** Environment to read `TIDEWIRE_PUBLIC_ENDPOINT` from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Options of `detect()` for `provider: 'auto'` (signal, fetch and logger come from here). */
  detect?: Omit<DetectOptions, 'signal' | 'fetch' | 'logger'>;
}

/** What the server hands to clients: `host` plus the addresses behind it. */
export interface PublicEndpoint {
  provider: ProviderName | 'static';
  /** The address to give clients: `ipv4`, else `ipv6`, else the configured host name. */
  host: string;
  ipv4?: string;
  ipv6?: string;
  source: 'env' | 'config' | 'default' | 'metadata' | 'generic' | 'fallback';
}

const PROVIDERS: ReadonlySet<string> = new Set([
  'static',
  'auto',
  'generic',
  ...Object.keys(METADATA_RESOLVERS),
]);

/**
 * Resolves the public endpoint for a `publicEndpoint` config, in this order:
 * 1. `TIDEWIRE_PUBLIC_ENDPOINT` in the environment, when set and not empty;
 * 2. `config.address`, when set and not blank;
 * 3. `provider: 'static'` → `127.0.0.1` (no network traffic at all);
 * 4. the provider's resolver (`'auto'` → `detect()`);
 * 5. when that fails and `config.fallback` is set, the fallback (logged as a warning).
 * An explicit value that is neither an IP nor a host name fails with
 * `TIDEWIRE_ERR_CLOUD_INVALID_ADDRESS`.
 */
export async function resolvePublicEndpoint(
  config: PublicEndpointConfig,
  options: PublicEndpointOptions = {},
): Promise<PublicEndpoint> {
  if (!PROVIDERS.has(config.provider)) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.InvalidArgument,
      String(config.provider),
      'config',
      `unknown provider ${String(config.provider)}`,
    );
  }
  const env = options.env ?? process.env;
  const fromEnv = env[PUBLIC_ENDPOINT_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '')
    return staticEndpoint(fromEnv, 'env', PUBLIC_ENDPOINT_ENV);
  if (config.address !== undefined && config.address.trim() !== '')
    return staticEndpoint(config.address, 'config', 'publicEndpoint.address');
  if (config.provider === 'static')
    return staticEndpoint(DEFAULT_STATIC_HOST, 'default', 'default');

  // Check the fallback before any traffic, so a typo fails fast.
  const fallback =
    config.fallback === undefined
      ? undefined
      : staticEndpoint(config.fallback, 'fallback', 'fallback');
  try {
    const found = await lookup(config.provider, options);
    const endpoint: PublicEndpoint = {
      ...found,
      host: found.ipv4 ?? (found.ipv6 as string),
      source: found.provider === 'generic' ? 'generic' : 'metadata',
    };
    options.logger?.info?.('cloud-endpoint: public endpoint', { ...endpoint });
    return endpoint;
  } catch (err) {
    if (fallback === undefined) throw err;
    const error = err as CloudEndpointError;
    options.logger?.warn?.('cloud-endpoint: provider failed, using the fallback address', {
      provider: config.provider,
      code: error.code,
      step: error.step,
      message: error.message,
      host: fallback.host,
    });
    return fallback;
  }
}

function lookup(
  provider: Exclude<EndpointProvider, 'static'>,
  options: PublicEndpointOptions,
): Promise<PublicAddress> {
  const { env: _env, detect: detectOptions, ...resolveOptions } = options;
  if (provider === 'auto') {
    const auto: DetectOptions = { ...detectOptions };
    if (options.signal !== undefined) auto.signal = options.signal;
    if (options.fetch !== undefined) auto.fetch = options.fetch;
    if (options.logger !== undefined) auto.logger = options.logger;
    return detect(auto);
  }
  if (provider === 'generic') return resolveGeneric(resolveOptions);
  return METADATA_RESOLVERS[provider](resolveOptions);
}

function staticEndpoint(
  value: string,
  source: PublicEndpoint['source'],
  what: string,
): PublicEndpoint {
  const host = normaliseHost(value);
  if (host === undefined) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.InvalidAddress,
      'static',
      'config',
      `${what} is not an IP address or host name: ${JSON.stringify(value.slice(0, 80))}`,
    );
  }
  const endpoint: PublicEndpoint = { provider: 'static', host, source };
  const family = ipFamily(host);
  if (family === 4) endpoint.ipv4 = host;
  else if (family === 6) endpoint.ipv6 = host;
  return endpoint;
}
