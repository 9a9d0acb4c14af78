/**
 * The reconnect loop: tries to resume, with backoff, while the seat can be
 * held, then a fresh session. Shared by the Node and browser clients.
 */
import { ResumeErrorCode } from '@tidewire/wire/portable';
import { sleep } from '../sleep.ts';
import { backoffDelay, type ResolvedReconnect } from './backoff.ts';
import { type ClientSeat, isSeatGone } from './seat.ts';

/** What the reconnect loop needs of the client core. */
export interface ReconnectHost {
  /** The seat to resume, or null (the client goes straight for a fresh session). */
  readonly seat: ClientSeat | null;
  /** Why a fresh session when there is no seat to resume (the close code). */
  readonly noSeatReason?: string;
  /** Resumes the seat on a new connection (throws on failure). */
  resume(signal: AbortSignal): Promise<void>;
  /** Gets a new session and says hello (throws on failure); `reason`: why not resumed. */
  fresh(reason: string, signal: AbortSignal): Promise<void>;
  /** Before each attempt; `error`: the code of the previous attempt's failure, if any. */
  onAttempt(info: { attempt: number; delayMs: number; error?: string }): void;
}

/**
 * Tries to resume, with backoff, while the seat can be held; then a fresh
 * session. Resolves 'resumed', 'fresh' or 'gave-up' (attempts spent, or
 * aborted: 'aborted').
 */
export async function reconnectLoop(
  host: ReconnectHost,
  options: ResolvedReconnect,
  signal: AbortSignal,
): Promise<{ outcome: 'resumed' | 'fresh' | 'gave-up' | 'aborted'; lastError: unknown }> {
  let resumable = host.seat !== null;
  let reason = host.seat === null ? (host.noSeatReason ?? 'TIDEWIRE_ERR_RESUME_UNAVAILABLE') : '';
  let lastError: unknown = null;
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    const delayMs = backoffDelay(attempt, options.backoff);
    const error = (lastError as { code?: unknown } | null)?.code;
    host.onAttempt({
      attempt: attempt + 1,
      delayMs,
      ...(error !== undefined ? { error: String(error) } : {}),
    });
    try {
      await sleep(delayMs, signal);
    } catch {
      return { outcome: 'aborted', lastError };
    }
    const seat = host.seat;
    if (resumable && seat !== null && Date.now() - seat.lostAt >= seat.ttlMs) {
      resumable = false;
      reason = ResumeErrorCode.Expired;
    }
    try {
      if (resumable) {
        await host.resume(signal);
        return { outcome: 'resumed', lastError };
      }
      await host.fresh(reason, signal);
      return { outcome: 'fresh', lastError };
    } catch (err) {
      if (signal.aborted) return { outcome: 'aborted', lastError: err };
      lastError = err;
      if (resumable && isSeatGone(err)) {
        resumable = false;
        reason = String((err as { code?: unknown }).code);
      }
    }
  }
  return { outcome: 'gave-up', lastError };
}
