import { performance } from 'node:perf_hooks';

/**
 * `Deadline.slot` of an entry that is not scheduled. A small integer, not
 * Infinity: the field then stays a Smi (slots are whole milliseconds), where
 * a double would be a separate heap box, one more object to load for every
 * `schedule` call.
 */
const UNSCHEDULED = -1;

/**
 * One timer for every UDP connection of the process.
 *
 * Each connection has one deadline (the session's next timeout: RTO, keep-
 * alive, idle TTL, close linger). Deadlines change on almost every packet
 * (a send arms the RTO, its ACK moves the deadline to the keep-alive), so
 * giving each connection a Node timer costs a clearTimeout/setTimeout pair
 * and often an early timer callback per message. Here a deadline is a slot
 * (1 ms) holding a doubly linked list of entries: moving an entry is O(1),
 * and a single Node timer is armed at the earliest slot that holds entries.
 *
 * The timer is ref'd while any entry is scheduled (like the sockets it
 * serves) and cleared when the last one is cancelled, so a process with no
 * connections has no timer left.
 */
export class Deadline<O = unknown> {
  /** The slot this entry is linked in, or UNSCHEDULED. */
  slot: number = UNSCHEDULED;
  prev: Deadline | null = null;
  next: Deadline | null = null;

  /**
   * `fire(owner)` runs when the deadline passes: one function can serve
   * every entry of a kind of owner, instead of a closure per entry.
   */
  constructor(
    readonly fire: (owner: O) => void,
    readonly owner: O,
  ) {}
}

/** Slot number → first entry of its list. */
const slots = new Map<number, Deadline>();
/** Min-heap of slot numbers that had entries when pushed (may hold emptied ones). */
const heap: number[] = [];
let scheduledCount = 0;
let timer: NodeJS.Timeout | null = null;
let timerSlot = Number.POSITIVE_INFINITY;
/** Slots up to this one have fired: a deadline at or before it is due in the next slot. */
let firedThrough = Number.NEGATIVE_INFINITY;

/** Whether the one process-wide timer is set (some deadline is scheduled). */
export function timerArmed(): boolean {
  return timer !== null;
}

/** Schedules `owned` to fire at `at` (ms on the `performance.now()` clock); Infinity cancels it. */
export function schedule<O>(owned: Deadline<O>, at: number): void {
  // the lists hold entries of every kind of owner; only `fire` reads the owner, with its own function
  const entry = owned as unknown as Deadline;
  if (Number.isNaN(at)) throw new TypeError('deadline is NaN');
  const slot =
    at === Number.POSITIVE_INFINITY ? UNSCHEDULED : Math.max(Math.ceil(at), firedThrough + 1, 0);
  if (slot === entry.slot) return;
  if (entry.slot !== UNSCHEDULED) unlink(entry);
  if (slot === UNSCHEDULED) {
    if (scheduledCount === 0) reset();
    return;
  }
  link(entry, slot);
  if (slot < timerSlot) arm(slot);
}

function link(entry: Deadline, slot: number): void {
  entry.slot = slot;
  const first = slots.get(slot);
  if (first === undefined) {
    entry.prev = null;
    entry.next = null;
    slots.set(slot, entry);
    heapPush(slot);
  } else {
    entry.prev = null;
    entry.next = first;
    first.prev = entry;
    slots.set(slot, entry);
  }
  scheduledCount++;
}

function unlink(entry: Deadline): void {
  const { prev, next, slot } = entry;
  if (prev !== null) prev.next = next;
  else if (next !== null) slots.set(slot, next);
  else slots.delete(slot);
  if (next !== null) next.prev = prev;
  entry.prev = null;
  entry.next = null;
  entry.slot = UNSCHEDULED;
  scheduledCount--;
}

function arm(slot: number): void {
  if (timer !== null) clearTimeout(timer);
  timerSlot = slot;
  timer = setTimeout(onTimer, Math.max(1, Math.ceil(slot - performance.now())));
}

function reset(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  timerSlot = Number.POSITIVE_INFINITY;
  heap.length = 0;
  slots.clear();
}

function onTimer(): void {
  timer = null;
  timerSlot = Number.POSITIVE_INFINITY;
  const due = Math.floor(performance.now());
  firedThrough = due;
  let failed = false;
  let failure: unknown;
  while (heap.length > 0 && heap[0]! <= due) {
    const slot = heapPop();
    let entry = slots.get(slot);
    // Entries a callback schedules land after `due` (firedThrough), never in this list.
    while (entry !== undefined) {
      unlink(entry);
      try {
        entry.fire(entry.owner);
      } catch (err) {
        // One callback's error (an application handler it ran) must not
        // stop the other connections' timeouts: it is rethrown afterwards.
        if (!failed) {
          failed = true;
          failure = err;
        }
      }
      entry = slots.get(slot);
    }
  }
  firedThrough = Number.NEGATIVE_INFINITY;
  if (failed) {
    process.nextTick(() => {
      throw failure;
    });
  }
  if (scheduledCount === 0) {
    reset();
    return;
  }
  // Callbacks may have armed the timer for a later slot than one already waiting.
  while (heap.length > 0 && !slots.has(heap[0]!)) heapPop();
  if (heap.length > 0 && heap[0]! < timerSlot) arm(heap[0]!);
}

function heapPush(value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    let i = 0;
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right]! < heap[left]! ? right : left;
      if (heap[child]! >= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
  return top;
}
