import { isTidewireError } from '@tidewire/wire/portable';
import { sleep } from './sleep.ts';

/**
 * Transport errors that say the node of a session could not be reached (its
 * process is gone while the registry still lists it, for up to the mesh's
 * `ttlMs`): worth a new session that avoids that node.
 */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'TIDEWIRE_ERR_CONNECT_FAILED',
  'TIDEWIRE_ERR_CONNECT_TIMEOUT',
  'TIDEWIRE_ERR_HANDSHAKE_TIMEOUT',
]);

/** True when `err` means the session's node could not be reached. */
export function isUnreachable(err: unknown): boolean {
  return isTidewireError(err) && UNREACHABLE_CODES.has(err.code);
}

/** "host:port" as the session endpoint's `?avoid=` expects it (IPv6 hosts in brackets). */
export function endpointKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface RetryOptions {
  /** Connection attempts in all, each with a new session (>= 1). */
  attempts: number;
  /** Ends the waits between attempts (the connect deadline, the caller's signal). */
  signal: AbortSignal;
  /** Delay before the second attempt, ms; doubled each time, with jitter. Default 100. */
  baseDelayMs?: number;
}

/**
 * Runs `attempt` until it succeeds, giving it the endpoints that could not be
 * reached so far. An attempt that fails with an unreachable node (see
 * `isUnreachable`) is tried again after an exponential backoff with full
 * jitter while attempts remain; any other error, the last attempt's error or
 * an aborted signal ends it.
 */
export async function retryUnreachable<T>(
  options: RetryOptions,
  attempt: (avoid: readonly string[], attemptIndex: number) => Promise<T>,
  endpointOf: (err: unknown) => string | null,
): Promise<T> {
  const avoid: string[] = [];
  const base = options.baseDelayMs ?? 100;
  for (let i = 0; ; i++) {
    try {
      return await attempt(avoid, i);
    } catch (err) {
      const endpoint = endpointOf(err);
      if (endpoint === null || i + 1 >= options.attempts || options.signal.aborted) throw err;
      if (!avoid.includes(endpoint)) avoid.push(endpoint);
      await sleep(Math.random() * base * 2 ** i, options.signal).catch(() => {
        throw err;
      });
    }
  }
}
