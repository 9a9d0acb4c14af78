/**
 * Frames an application sends outside a receive leave at the end of the
 * current tick: every send of one synchronous stretch of code goes out in as
 * few packets as fit, without waiting for the next event-loop turn. One
 * `process.nextTick` serves every connection of the process.
 */
const flushes: Array<(target: never) => void> = [];
const targets: unknown[] = [];
let scheduled = false;

function runPending(): void {
  let failed = false;
  let failure: unknown;
  // Callbacks queued while this runs (a flush that makes a handler send) run in this loop too.
  for (let i = 0; i < flushes.length; i++) {
    try {
      (flushes[i] as (target: unknown) => void)(targets[i]);
    } catch (err) {
      // An application handler a flush ran (onDrain) threw: the other
      // connections still flush, and the error is rethrown afterwards.
      if (!failed) {
        failed = true;
        failure = err;
      }
    }
  }
  flushes.length = 0;
  targets.length = 0;
  scheduled = false;
  if (failed) throw failure;
}

/**
 * Runs `flush(target)` at the end of the current tick: one function can
 * serve every connection, instead of a closure per connection. The caller
 * makes sure it queues one flush per target at a time.
 */
export function atEndOfTick<T>(flush: (target: T) => void, target: T): void {
  flushes.push(flush);
  targets.push(target);
  if (!scheduled) {
    scheduled = true;
    process.nextTick(runPending);
  }
}
