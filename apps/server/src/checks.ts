import { readFile } from 'node:fs/promises';

/** File descriptors the process may open (soft limit), from /proc on Linux; null elsewhere. */
export async function openFileLimit(): Promise<number | null> {
  try {
    const limits = await readFile('/proc/self/limits', 'utf8');
    const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === undefined) return null;
    return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return null;
  }
}

/** Descriptors needed besides one per user: listeners, logs, Redis, DNS, a margin. */
export const FD_HEADROOM = 64;

/**
 * A clear message when the descriptor limit cannot hold `maxUsers` users
 * (one socket each), or null when it can (or the limit is unknown).
 */
export function fdLimitProblem(limit: number | null, maxUsers: number): string | null {
  if (limit === null || limit >= maxUsers + FD_HEADROOM) return null;
  return (
    `the open file limit (${limit}) is too low for capacity.maxUsers ${maxUsers}: ` +
    `it needs at least ${maxUsers + FD_HEADROOM}. Raise it (ulimit -n ${maxUsers + FD_HEADROOM}, ` +
    `LimitNOFILE in systemd, or the container runtime's nofile ulimit) or lower capacity.maxUsers.`
  );
}
