import { performance } from 'node:perf_hooks';
import { CloudEndpointError, CloudEndpointErrorCode } from './errors.ts';
import { abortedError, checkTimeout } from './http.ts';
import { resolveAlibaba } from './providers/alibaba.ts';
import { resolveAws } from './providers/aws.ts';
import { resolveAzure } from './providers/azure.ts';
import { resolveGcp } from './providers/gcp.ts';
import { GENERIC_TIMEOUT_MS, resolveGeneric } from './providers/generic.ts';
import { resolveLinode } from './providers/linode.ts';
import { resolveTencent } from './providers/tencent.ts';
import type {
  CloudLogger,
  FetchFunction,
  ProviderName,
  PublicAddress,
  ResolveOptions,
} from './types.ts';

/** A provider with an instance metadata service (everything but `generic`). */
export type MetadataProviderName = Exclude<ProviderName, 'generic'>;

/** The resolver of each metadata provider. */
export const METADATA_RESOLVERS: Readonly<
  Record<MetadataProviderName, (options?: ResolveOptions) => Promise<PublicAddress>>
> = {
  aws: resolveAws,
  gcp: resolveGcp,
  azure: resolveAzure,
  alibaba: resolveAlibaba,
  tencent: resolveTencent,
  linode: resolveLinode,
};

/** Metadata providers `detect()` probes by default. */
export const DEFAULT_DETECT_PROVIDERS: readonly MetadataProviderName[] = [
  'aws',
  'gcp',
  'azure',
  'alibaba',
  'tencent',
  'linode',
];

export interface DetectOptions {
  signal?: AbortSignal;
  fetch?: FetchFunction;
  logger?: CloudLogger;
  /** Metadata providers to probe (all six by default). */
  providers?: readonly MetadataProviderName[];
  /** Origin per provider (tests, proxies); `generic` replaces the service list. */
  baseUrls?: Partial<Record<ProviderName, string>>;
  /** Deadline of each metadata probe, in ms. Default 500. */
  probeTimeoutMs?: number;
  /** Deadline of the whole detection, in ms. Default 2000. */
  deadlineMs?: number;
  /**
   * After the metadata probes found nothing, ask the generic services with
   * the time left (default `true`). `false` disables; an array sets the services.
   */
  generic?: boolean | readonly string[];
}

/**
 * Finds the public address without knowing the cloud: probes every metadata
 * provider at once (each with `probeTimeoutMs`), takes the first valid answer
 * and cancels the others; when none answers with an address, asks the generic
 * services within what is left of `deadlineMs`. Fails with
 * `TIDEWIRE_ERR_CLOUD_NOT_DETECTED` carrying every provider's error.
 */
export async function detect(options: DetectOptions = {}): Promise<PublicAddress> {
  const probeTimeoutMs = checkTimeout('auto', options.probeTimeoutMs, 500);
  const deadlineMs = checkTimeout('auto', options.deadlineMs, 2000);
  const providers = options.providers ?? DEFAULT_DETECT_PROVIDERS;
  for (const name of providers) {
    if (!Object.hasOwn(METADATA_RESOLVERS, name)) {
      throw new CloudEndpointError(
        CloudEndpointErrorCode.InvalidArgument,
        'auto',
        'config',
        `unknown provider ${name}`,
      );
    }
  }
  const user = options.signal;
  if (user?.aborted) throw abortedError('auto', 'fetch', user);
  const started = performance.now();
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), deadlineMs);
  const outer = user === undefined ? deadline.signal : AbortSignal.any([user, deadline.signal]);
  const errors: Error[] = [];
  try {
    if (providers.length > 0) {
      const losers = new AbortController();
      const signal = AbortSignal.any([outer, losers.signal]);
      try {
        return await Promise.any(
          providers.map((name) =>
            METADATA_RESOLVERS[name](
              probeOptions(options, signal, probeTimeoutMs, options.baseUrls?.[name]),
            ),
          ),
        );
      } catch (err) {
        errors.push(...(err instanceof AggregateError ? (err.errors as Error[]) : [err as Error]));
      } finally {
        losers.abort();
      }
    }
    if (user?.aborted) throw abortedError('auto', 'fetch', user);
    const remaining = deadlineMs - (performance.now() - started);
    if (options.generic !== false && remaining > 0) {
      // An explicit service list wins over baseUrls.generic.
      const services = Array.isArray(options.generic)
        ? (options.generic as readonly string[])
        : undefined;
      const baseUrl = services === undefined ? options.baseUrls?.generic : undefined;
      const genericTimeout = Math.min(GENERIC_TIMEOUT_MS, remaining);
      const genericOptions = probeOptions(options, outer, genericTimeout, baseUrl);
      try {
        return await resolveGeneric(
          services === undefined ? genericOptions : { ...genericOptions, services },
        );
      } catch (err) {
        errors.push(err as Error);
      }
      if (user?.aborted) throw abortedError('auto', 'fetch', user);
    }
    // The generic timer is clamped to the time left, so it may fire just before the deadline.
    const timedOut =
      deadline.signal.aborted ||
      (errors.length > 0 &&
        errors.every((e) => (e as CloudEndpointError).code === CloudEndpointErrorCode.Timeout));
    const summary = errors.map((e) => e.message).join('; ');
    throw new CloudEndpointError(
      CloudEndpointErrorCode.NotDetected,
      'auto',
      timedOut ? 'timeout' : 'fetch',
      `no provider gave a public address${timedOut ? ` within ${deadlineMs} ms` : ''}: ${summary}`,
      { errors },
    );
  } finally {
    clearTimeout(timer);
  }
}

function probeOptions(
  options: DetectOptions,
  signal: AbortSignal,
  timeoutMs: number,
  baseUrl: string | undefined,
): ResolveOptions {
  const probe: ResolveOptions = { signal, timeoutMs };
  if (options.fetch !== undefined) probe.fetch = options.fetch;
  if (options.logger !== undefined) probe.logger = options.logger;
  if (baseUrl !== undefined) probe.baseUrl = baseUrl;
  return probe;
}
