import type { Socket } from 'node:net';

/**
 * Write coalescing shared by every connection of the process.
 *
 * A connection's first `send` in an epoch goes to the socket at once (no
 * added latency). A second `send` to the same connection in the same epoch
 * corks its socket; corked sockets are uncorked at the end of the tick (one
 * `process.nextTick` for all of them), so a burst of frames leaves in one
 * writev.
 *
 * A read that holds several whole frames corks its socket before they are
 * delivered, so the answers to all of them leave in one write too.
 *
 * An epoch starts with every read callback of any connection (`newEpoch`)
 * and after every end of tick that uncorked something. That costs nothing
 * per message when nothing bursts: request/response traffic schedules no
 * tick callback at all. Sends from other sources (timers, UDP, HTTP) that
 * repeat a connection's epoch only cork a little early, until the end of
 * the current tick.
 */
let epoch = 0;
let scheduled = false;
const corked: Socket[] = [];

function endTick(): void {
  epoch++;
  scheduled = false;
  // Uncorking may run user code that sends again: it sees the new epoch.
  for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
  corked.length = 0;
}

/** Starts a new epoch: called when a read callback begins. */
export function newEpoch(): void {
  epoch++;
}

/** The current epoch number. */
export function currentEpoch(): number {
  return epoch;
}

/** Corks `socket` until the end of the current tick. */
export function corkUntilEndOfTick(socket: Socket): void {
  socket.cork();
  corked.push(socket);
  if (!scheduled) {
    scheduled = true;
    process.nextTick(endTick);
  }
}
