import { performance } from 'node:perf_hooks';
import { parseIpAddress } from './address.ts';
import { failedChannel, resolvedChannel } from './channels.ts';
import { CloudEndpointError, CloudEndpointErrorCode, type CloudStep } from './errors.ts';
import type { FetchFunction, ProviderName, PublicAddress, ResolveOptions } from './types.ts';

/** Bodies larger than this are refused: an address is a few dozen bytes. */
export const MAX_TEXT_BODY: number = 1024;
/** JSON documents (Linode network, Azure load balancer) are small too. */
export const MAX_JSON_BODY: number = 64 * 1024;

/** State of one resolution: the combined signal and the step in progress. */
export interface CallContext {
  readonly provider: string;
  readonly signal: AbortSignal;
  readonly fetch: FetchFunction;
  readonly options: ResolveOptions;
  step: CloudStep;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
}

export function checkTimeout(
  provider: string,
  value: number | undefined,
  fallback: number,
): number {
  const ms = value ?? fallback;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.InvalidArgument,
      provider,
      'config',
      `timeoutMs must be a positive number, got ${String(value)}`,
    );
  }
  return ms;
}

/** The origin to talk to: `baseUrl` without trailing slashes, or the provider's default. */
export function originOf(provider: string, baseUrl: string | undefined, fallback: string): string {
  const value = baseUrl ?? fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.InvalidArgument,
      provider,
      'config',
      `invalid baseUrl ${value}`,
      {
        cause,
      },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.InvalidArgument,
      provider,
      'config',
      `baseUrl must be http(s), got ${value}`,
    );
  }
  return value.replace(/\/+$/, '');
}

/**
 * Runs `body` under a deadline of `timeoutMs` and the caller's signal. Every
 * request made through the context is cancelled when this returns (no socket
 * outlives the call), and the timer is cleared. Abort and timeout become typed
 * errors; the outcome is published on the diagnostics channels when `publish`.
 */
export async function runResolution<T extends PublicAddress>(
  provider: ProviderName,
  options: ResolveOptions,
  defaultTimeoutMs: number,
  body: (ctx: CallContext) => Promise<T>,
  publish: boolean = true,
): Promise<T> {
  const timeoutMs = checkTimeout(provider, options.timeoutMs, defaultTimeoutMs);
  const user = options.signal;
  if (user?.aborted) throw abortedError(provider, 'fetch', user);
  const fetchFn = options.fetch ?? globalThis.fetch;
  const deadline = new AbortController();
  const done = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  const signals = [deadline.signal, done.signal];
  if (user !== undefined) signals.push(user);
  const ctx: CallContext = {
    provider,
    signal: AbortSignal.any(signals),
    fetch: fetchFn,
    options,
    step: 'fetch',
  };
  const started = performance.now();
  try {
    const result = await body(ctx);
    const durationMs = performance.now() - started;
    options.logger?.debug?.('cloud-endpoint: resolved', {
      provider,
      ipv4: result.ipv4,
      ipv6: result.ipv6,
      durationMs,
    });
    if (publish && resolvedChannel.hasSubscribers)
      resolvedChannel.publish({ ...result, durationMs });
    return result;
  } catch (err) {
    let error: CloudEndpointError;
    if (user?.aborted) error = abortedError(provider, ctx.step, user);
    else if (deadline.signal.aborted) {
      error = new CloudEndpointError(
        CloudEndpointErrorCode.Timeout,
        provider,
        'timeout',
        `no answer within ${timeoutMs} ms (during ${ctx.step})`,
        { cause: err },
      );
    } else if (err instanceof CloudEndpointError) error = err;
    else
      error = new CloudEndpointError(
        CloudEndpointErrorCode.Fetch,
        provider,
        ctx.step,
        String(err),
        { cause: err },
      );
    const durationMs = performance.now() - started;
    options.logger?.debug?.('cloud-endpoint: failed', {
      provider,
      code: error.code,
      step: error.step,
      durationMs,
    });
    if (publish && failedChannel.hasSubscribers) {
      failedChannel.publish({ provider, code: error.code, step: error.step, durationMs, error });
    }
    throw error;
  } finally {
    clearTimeout(timer);
    done.abort();
  }
}

export function abortedError(
  provider: string,
  step: CloudStep,
  signal: AbortSignal,
): CloudEndpointError {
  return new CloudEndpointError(CloudEndpointErrorCode.Aborted, provider, step, 'aborted', {
    cause: signal.reason,
  });
}

/** One HTTP request; network failures become `Token`/`Fetch` errors, bodies are capped. */
export async function request(
  ctx: CallContext,
  step: 'token' | 'fetch',
  url: string,
  init: { method?: string; headers?: Record<string, string> } = {},
  maxBytes: number = MAX_TEXT_BODY,
): Promise<HttpAnswer> {
  ctx.step = step;
  let response: Response;
  try {
    response = await ctx.fetch(url, {
      method: init.method ?? 'GET',
      headers: init.headers ?? {},
      signal: ctx.signal,
      redirect: 'error',
    });
  } catch (cause) {
    if (ctx.signal.aborted) throw cause;
    throw new CloudEndpointError(
      step === 'token' ? CloudEndpointErrorCode.Token : CloudEndpointErrorCode.Fetch,
      ctx.provider,
      step,
      `${init.method ?? 'GET'} ${url} failed: ${describe(cause)}`,
      { cause },
    );
  }
  const body = await readCapped(ctx, response, maxBytes);
  return { status: response.status, headers: response.headers, body };
}

async function readCapped(ctx: CallContext, response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new CloudEndpointError(
        CloudEndpointErrorCode.Parse,
        ctx.provider,
        'parse',
        `answer larger than ${maxBytes} bytes`,
        { status: response.status },
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** An error for an answer with an unexpected status. */
export function statusError(
  ctx: CallContext,
  step: 'token' | 'fetch',
  what: string,
  answer: HttpAnswer,
): CloudEndpointError {
  const code = step === 'token' ? CloudEndpointErrorCode.Token : CloudEndpointErrorCode.Fetch;
  return new CloudEndpointError(
    code,
    ctx.provider,
    step,
    `${what}: HTTP ${answer.status} ${snippet(answer.body)}`.trim(),
    {
      status: answer.status,
    },
  );
}

export function parseError(
  ctx: CallContext,
  what: string,
  body: string,
  status?: number,
): CloudEndpointError {
  return new CloudEndpointError(
    CloudEndpointErrorCode.Parse,
    ctx.provider,
    'parse',
    `${what} is not a valid address: ${snippet(body) || '(empty)'}`,
    status === undefined ? {} : { status },
  );
}

/** Reads a session token from a token answer; anything but 200 with a sane token fails. */
export function readToken(ctx: CallContext, answer: HttpAnswer): string {
  if (answer.status !== 200) throw statusError(ctx, 'token', 'session token refused', answer);
  const token = answer.body.trim();
  if (token.length === 0 || token.length > 512 || !/^[\x21-\x7e]+$/.test(token)) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.Token,
      ctx.provider,
      'token',
      'malformed session token',
      {
        status: answer.status,
      },
    );
  }
  return token;
}

/**
 * GET of a plain-text metadata leaf holding one address of `family`.
 * 404 or an empty 200 means "no such address". `check` sees every answer
 * (200 or 404) first, to tell the real service from an impostor.
 */
export async function getAddressLeaf(
  ctx: CallContext,
  url: string,
  headers: Record<string, string>,
  family: 4 | 6,
  check?: (answer: HttpAnswer) => void,
): Promise<string | undefined> {
  const answer = await request(ctx, 'fetch', url, { headers });
  if (answer.status === 200 || answer.status === 404) check?.(answer);
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw statusError(ctx, 'fetch', url, answer);
  ctx.step = 'parse';
  if (answer.body.trim().length === 0) return undefined;
  return expectAddress(ctx, answer.body, family, url, answer.status);
}

export function expectAddress(
  ctx: CallContext,
  text: string,
  family: 4 | 6 | 0,
  what: string,
  status?: number,
  allowPrefix: boolean = false,
): string {
  const ip = parseIpAddress(text, allowPrefix);
  if (ip === undefined) throw parseError(ctx, what, text, status);
  const isV6 = ip.includes(':');
  if ((family === 4 && isV6) || (family === 6 && !isV6)) {
    throw parseError(ctx, `${what} (expected IPv${family})`, text, status);
  }
  return ip;
}

/** Builds the result, or fails with `NoPublicAddress` when neither family is present. */
export function publicAddress(
  provider: ProviderName,
  ipv4: string | undefined,
  ipv6: string | undefined,
): PublicAddress {
  if (ipv4 === undefined && ipv6 === undefined) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.NoPublicAddress,
      provider,
      'fetch',
      'the metadata service reports no public address for this instance',
      { status: 404 },
    );
  }
  const result: PublicAddress = { provider };
  if (ipv4 !== undefined) result.ipv4 = ipv4;
  if (ipv6 !== undefined) result.ipv6 = ipv6;
  return result;
}

export function parseJson(ctx: CallContext, answer: HttpAnswer, what: string): unknown {
  ctx.step = 'parse';
  try {
    return JSON.parse(answer.body);
  } catch (cause) {
    throw new CloudEndpointError(
      CloudEndpointErrorCode.Parse,
      ctx.provider,
      'parse',
      `${what} is not JSON: ${snippet(answer.body)}`,
      { cause, status: answer.status },
    );
  }
}

function snippet(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 77)}...` : flat;
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : '';
    return `${cause.message}${inner}`;
  }
  return String(cause);
}
