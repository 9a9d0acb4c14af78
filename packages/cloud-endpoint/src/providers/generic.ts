import { performance } from 'node:perf_hooks';
import { failedChannel, resolvedChannel } from '../channels.ts';
import { CloudEndpointError, CloudEndpointErrorCode } from '../errors.ts';
import {
  abortedError,
  checkTimeout,
  expectAddress,
  originOf,
  publicAddress,
  request,
  runResolution,
  statusError,
} from '../http.ts';
import type { GenericResolveOptions, PublicAddress } from '../types.ts';

/**
 * HTTPS services that answer the caller's address as a bare IP in plain text.
 * Each is run by a different operator (AWS, ipify, icanhazip), so one outage
 * does not stop resolution.
 */
export const DEFAULT_GENERIC_SERVICES: readonly string[] = [
  'https://checkip.amazonaws.com/',
  'https://api.ipify.org/',
  'https://icanhazip.com/',
];

/** Per-service deadline of `resolveGeneric`, in ms. */
export const GENERIC_TIMEOUT_MS = 1500;

/**
 * Any host: asks each "what is my address" service in turn (`GET`, 1.5 s
 * each by default) and returns the first answer that is a valid IP address
 * (as `ipv4` or `ipv6` by its family). Fails with the errors of every service.
 */
export async function resolveGeneric(options: GenericResolveOptions = {}): Promise<PublicAddress> {
  const services =
    options.baseUrl !== undefined
      ? [options.baseUrl]
      : (options.services ?? DEFAULT_GENERIC_SERVICES);
  if (services.length === 0) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.InvalidArgument,
      'generic',
      'config',
      'no services to ask',
    );
  }
  const urls = services.map((service) => originOf('generic', service, service));
  checkTimeout('generic', options.timeoutMs, GENERIC_TIMEOUT_MS);
  const started = performance.now();
  const errors: CloudEndpointError[] = [];
  for (const url of urls) {
    if (options.signal?.aborted) break;
    try {
      const result = await runResolution(
        'generic',
        options,
        GENERIC_TIMEOUT_MS,
        async (ctx) => {
          const answer = await request(ctx, 'fetch', url, { headers: { Accept: 'text/plain' } });
          if (answer.status !== 200) throw statusError(ctx, 'fetch', url, answer);
          ctx.step = 'parse';
          const ip = expectAddress(ctx, answer.body, 0, url, answer.status);
          return ip.includes(':')
            ? publicAddress('generic', undefined, ip)
            : publicAddress('generic', ip, undefined);
        },
        false,
      );
      if (resolvedChannel.hasSubscribers) {
        resolvedChannel.publish({
          ...result,
          durationMs: performance.now() - started,
          service: url,
        });
      }
      return result;
    } catch (err) {
      const error = err as CloudEndpointError;
      options.logger?.debug?.('cloud-endpoint: generic service failed', {
        service: url,
        code: error.code,
      });
      errors.push(error);
      if (error.code === CloudEndpointErrorCode.Aborted) break;
    }
  }
  const error = options.signal?.aborted
    ? abortedError('generic', 'fetch', options.signal)
    : combine(errors);
  if (failedChannel.hasSubscribers) {
    failedChannel.publish({
      provider: 'generic',
      code: error.code,
      step: error.step,
      durationMs: performance.now() - started,
      error,
    });
  }
  throw error;
}

function combine(errors: CloudEndpointError[]): CloudEndpointError {
  const last = errors[errors.length - 1];
  if (errors.length === 1 && last !== undefined) return last;
  const first = errors[0];
  const same = first !== undefined && errors.every((e) => e.code === first.code);
  const code = same ? first.code : CloudEndpointErrorCode.Fetch;
  const step = last?.step ?? 'fetch';
  const summary = errors.map((e) => e.message).join('; ');
  return new CloudEndpointError(
    code,
    'generic',
    step,
    `all ${errors.length} services failed: ${summary}`,
    { errors },
  );
}
