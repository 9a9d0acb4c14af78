/**
 * The reconnect options and the backoff between attempts: exponential,
 * capped, with jitter. Shared by the Node and browser clients (no `node:`
 * imports).
 */
import { ClientErrorCode, clientError } from '../errors.ts';

export interface BackoffOptions {
  /** Delay before the first attempt, ms. Default 100. */
  initialMs?: number;
  /** Largest delay, ms. Default 5000. */
  maxMs?: number;
  /** Each attempt waits this many times the previous. Default 2. */
  factor?: number;
  /** Fraction of each delay drawn at random (0..1): the delay is `d * (1 - jitter * random)`. Default 0.5. */
  jitter?: number;
}

export interface ReconnectOptions {
  /** Attempts (resume or fresh session) before giving up. Default 10; 0 turns reconnecting off. */
  attempts?: number;
  backoff?: BackoffOptions;
}

export interface ResolvedReconnect {
  attempts: number;
  backoff: Required<BackoffOptions>;
}

export function resolveReconnect(options: ReconnectOptions | false | undefined): ResolvedReconnect {
  if (options === false) return { attempts: 0, backoff: resolveBackoff({}) };
  const attempts = options?.attempts ?? 10;
  if (!Number.isInteger(attempts) || attempts < 0) {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      'reconnect.attempts must be an integer >= 0',
    );
  }
  return { attempts, backoff: resolveBackoff(options?.backoff ?? {}) };
}

function resolveBackoff(b: BackoffOptions): Required<BackoffOptions> {
  const out = {
    initialMs: b.initialMs ?? 100,
    maxMs: b.maxMs ?? 5000,
    factor: b.factor ?? 2,
    jitter: b.jitter ?? 0.5,
  };
  if (
    !(out.initialMs >= 0) ||
    !(out.maxMs >= out.initialMs) ||
    !(out.factor >= 1) ||
    !(out.jitter >= 0 && out.jitter <= 1)
  ) {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      'reconnect.backoff: initialMs >= 0, maxMs >= initialMs, factor >= 1, jitter in 0..1',
    );
  }
  return out;
}

/** The wait before attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoffDelay(
  attempt: number,
  backoff: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** attempt);
  return Math.round(base * (1 - backoff.jitter * random()));
}
