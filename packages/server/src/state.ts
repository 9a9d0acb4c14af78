/** Server states, as the engine defines them. */
export const ServerState = {
  /** Accepts new users and runs everything. */
  Online: 'ONLINE',
  /** Accepts no new users but runs everything else. */
  Taken: 'TAKEN',
  /** Accepts no new users, creates no new rooms or sessions, and drains. */
  Offline: 'OFFLINE',
} as const;

export type ServerState = (typeof ServerState)[keyof typeof ServerState];

/** How often `markServerAsTakenIf` polls its callback, in ms (the engine's 2 s). */
export const TAKEN_POLL_INTERVAL_MS = 2000;
