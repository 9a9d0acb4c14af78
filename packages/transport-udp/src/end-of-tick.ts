/**
 * Frames an application sends outside a receive leave at the end of the
 * current tick: every send of one synchronous stretch of code goes out in as
 * few packets as fit, without waiting for the next event-loop turn. One
 * `process.nextTick` serves every connection of the process.
 */
const pending: Array<() => void> = [];
let scheduled = false;

function runPending(): void {
  let failed = false;
  let failure: unknown;
  // Callbacks queued while this runs (a flush that makes a handler send) run in this loop too.
  for (let i = 0; i < pending.length; i++) {
    try {
      pending[i]!();
    } catch (err) {
      // An application handler a flush ran (onDrain) threw: the other
      // connections still flush, and the error is rethrown afterwards.
      if (!failed) {
        failed = true;
        failure = err;
      }
    }
  }
  pending.length = 0;
  scheduled = false;
  if (failed) throw failure;
}

/** Runs `flush` at the end of the current tick. The caller makes sure it queues one flush at a time. */
export function atEndOfTick(flush: () => void): void {
  pending.push(flush);
  if (!scheduled) {
    scheduled = true;
    process.nextTick(runPending);
  }
}
