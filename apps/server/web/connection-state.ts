/**
 * The demo page's connection state, from the client's reconnect events:
 * connecting, connected, reconnecting (attempt n), resumed, reconnected
 * fresh (the server state is gone), gave up, closed. No DOM here: the page
 * renders what `label` says and puts `state.name` on `document.body`.
 */

export type ConnectionState =
  | { name: 'connecting' }
  | { name: 'connected'; userId: string }
  | { name: 'reconnecting'; attempt: number; code: string }
  | { name: 'resumed'; userId: string }
  | { name: 'reconnected-fresh'; userId: string; reason: string }
  | { name: 'gave-up'; attempts: number; code: string }
  | { name: 'closed'; code: string }
  | { name: 'failed'; message: string };

/** What the page hears, in the client's own terms. */
export type ConnectionEvent =
  | { type: 'connected'; userId: string }
  | { type: 'reconnecting'; attempt: number; code: string }
  | { type: 'resumed'; userId: string }
  | { type: 'reconnected-fresh'; userId: string; reason: string }
  | { type: 'gave-up'; attempts: number; code: string }
  | { type: 'close'; code: string }
  | { type: 'failed'; message: string };

export const INITIAL_STATE: ConnectionState = { name: 'connecting' };

/** The state after `event`. `close` after `gave-up` keeps saying why it ended. */
export function nextState(state: ConnectionState, event: ConnectionEvent): ConnectionState {
  switch (event.type) {
    case 'connected':
      return { name: 'connected', userId: event.userId };
    case 'reconnecting':
      return { name: 'reconnecting', attempt: event.attempt, code: event.code };
    case 'resumed':
      return { name: 'resumed', userId: event.userId };
    case 'reconnected-fresh':
      return { name: 'reconnected-fresh', userId: event.userId, reason: event.reason };
    case 'gave-up':
      return { name: 'gave-up', attempts: event.attempts, code: event.code };
    case 'close':
      return state.name === 'gave-up' ? state : { name: 'closed', code: event.code };
    case 'failed':
      return { name: 'failed', message: event.message };
  }
}

/** The status line for `state`. */
export function label(state: ConnectionState): string {
  switch (state.name) {
    case 'connecting':
      return 'connecting…';
    case 'connected':
      return `connected as ${state.userId}`;
    case 'reconnecting':
      return `reconnecting (attempt ${state.attempt}, lost: ${state.code})…`;
    case 'resumed':
      return `resumed as ${state.userId}: nothing lost`;
    case 'reconnected-fresh':
      return `reconnected as ${state.userId} with a new session (${state.reason}): the server state was gone`;
    case 'gave-up':
      return `gave up after ${state.attempts} attempt${state.attempts === 1 ? '' : 's'} (${state.code})`;
    case 'closed':
      return `disconnected (${state.code})`;
    case 'failed':
      return `error: ${state.message}`;
  }
}
