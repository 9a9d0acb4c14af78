/**
 * The opening loop of bench/capacity, one for its TCP and UDP measurements and
 * its clients child: `concurrency` workers open sessions one after another
 * until `count` are open, the deadline passes, or 50 attempts in a row fail
 * (then the fds or the ports are exhausted and more attempts only add errors).
 */

export interface Opened<T> {
  items: T[];
  /** Failures by error code (or message); a plain object so that it crosses IPC. */
  errors: Record<string, number>;
  seconds: number;
}

export interface OpenOptions {
  concurrency: number;
  deadlineMs: number;
}

export async function openMany<T>(
  count: number,
  open: (index: number) => Promise<T>,
  { concurrency, deadlineMs }: OpenOptions,
): Promise<Opened<T>> {
  const items: T[] = [];
  const errors: Record<string, number> = {};
  const started = performance.now();
  let next = 0;
  let consecutiveFailures = 0;
  const worker = async (): Promise<void> => {
    while (next < count && consecutiveFailures < 50 && performance.now() - started < deadlineMs) {
      const index = next++;
      try {
        items.push(await open(index));
        consecutiveFailures = 0;
      } catch (err) {
        consecutiveFailures++;
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { items, errors, seconds: (performance.now() - started) / 1000 };
}

/** 'EADDRNOTAVAIL x3, session refused: 503 x1', or 'none'. */
export function describeErrors(...all: Record<string, number>[]): string {
  const total: Record<string, number> = {};
  for (const errors of all) {
    for (const [code, n] of Object.entries(errors)) total[code] = (total[code] ?? 0) + n;
  }
  return (
    Object.entries(total)
      .map(([code, n]) => `${code} x${n}`)
      .join(', ') || 'none'
  );
}
