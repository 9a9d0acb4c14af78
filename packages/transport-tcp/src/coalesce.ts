import type { Socket } from 'node:net';

/**
 * Per-tick write coalescing shared by every connection of the process.
 *
 * The first `send` of a connection in a tick goes to the socket at once (no
 * added latency, no cost for request/response traffic). A second `send` to
 * the same connection in the same tick corks its socket; every corked socket
 * is uncorked at the end of the tick (one `process.nextTick` per tick for the
 * whole process), so a burst of frames leaves in one writev.
 */
let tick = 0;
let scheduled = false;
const corked: Socket[] = [];

function endTick(): void {
  tick++;
  scheduled = false;
  // Uncorking may run user code that sends again: it sees the new tick.
  for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
  corked.length = 0;
}

/** The current tick number; schedules its end the first time it is asked for in a tick. */
export function currentTick(): number {
  if (!scheduled) {
    scheduled = true;
    process.nextTick(endTick);
  }
  return tick;
}

/** Corks `socket` until the end of the current tick. */
export function corkUntilEndOfTick(socket: Socket): void {
  socket.cork();
  corked.push(socket);
}
