import { describe, expect, it } from 'vitest';
import {
  type ConnectionEvent,
  type ConnectionState,
  INITIAL_STATE,
  label,
  nextState,
} from '../web/connection-state.ts';

/** The states and status lines the page goes through for `events`. */
function run(events: ConnectionEvent[]): [string, string][] {
  let state: ConnectionState = INITIAL_STATE;
  const seen: [string, string][] = [[state.name, label(state)]];
  for (const event of events) {
    state = nextState(state, event);
    seen.push([state.name, label(state)]);
  }
  return seen;
}

describe("the demo page's connection state", () => {
  it('a cut that resumes: connecting, connected, reconnecting (attempt n), resumed', () => {
    expect(
      run([
        { type: 'connected', userId: 'ann' },
        { type: 'reconnecting', attempt: 1, code: 'TIDEWIRE_ERR_SOCKET' },
        { type: 'reconnecting', attempt: 2, code: 'TIDEWIRE_ERR_SOCKET' },
        { type: 'resumed', userId: 'ann' },
      ]),
    ).toEqual([
      ['connecting', 'connecting…'],
      ['connected', 'connected as ann'],
      ['reconnecting', 'reconnecting (attempt 1, lost: TIDEWIRE_ERR_SOCKET)…'],
      ['reconnecting', 'reconnecting (attempt 2, lost: TIDEWIRE_ERR_SOCKET)…'],
      ['resumed', 'resumed as ann: nothing lost'],
    ]);
  });

  it('a seat that is gone: reconnected-fresh names the reason', () => {
    expect(
      run([
        { type: 'connected', userId: 'ann' },
        { type: 'reconnecting', attempt: 1, code: 'TIDEWIRE_ERR_SOCKET' },
        { type: 'reconnected-fresh', userId: 'ann', reason: 'TIDEWIRE_ERR_RESUME_INVALID' },
      ]).at(-1),
    ).toEqual([
      'reconnected-fresh',
      'reconnected as ann with a new session (TIDEWIRE_ERR_RESUME_INVALID): the server state was gone',
    ]);
  });

  it('gave up: the close that follows keeps saying why', () => {
    expect(
      run([
        { type: 'connected', userId: 'ann' },
        { type: 'reconnecting', attempt: 1, code: 'TIDEWIRE_ERR_SOCKET' },
        { type: 'gave-up', attempts: 1, code: 'TIDEWIRE_ERR_SOCKET' },
        { type: 'close', code: 'TIDEWIRE_ERR_SOCKET' },
      ]).slice(-2),
    ).toEqual([
      ['gave-up', 'gave up after 1 attempt (TIDEWIRE_ERR_SOCKET)'],
      ['gave-up', 'gave up after 1 attempt (TIDEWIRE_ERR_SOCKET)'],
    ]);
  });

  it('a close without a reconnect (the server kicked, reconnect off) and a failed first connect', () => {
    expect(
      run([
        { type: 'connected', userId: 'ann' },
        { type: 'close', code: 'TIDEWIRE_ERR_KICKED' },
      ]).at(-1),
    ).toEqual(['closed', 'disconnected (TIDEWIRE_ERR_KICKED)']);
    expect(run([{ type: 'failed', message: 'no session' }]).at(-1)).toEqual([
      'failed',
      'error: no session',
    ]);
  });
});
