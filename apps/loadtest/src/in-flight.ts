/**
 * One client's unanswered requests: their send times (ms) by request number.
 * A growable ring over a Float64Array, no allocation per request.
 *
 * Requests are numbered from 0 in send order. An answer that carries its
 * request's number is matched with `take`; one that does not (an error
 * answer, an echo of a payload too short for the number) with `shift`, the
 * oldest unanswered. `dropBefore` forgets the unanswered requests older than
 * a number: on a channel that may lose requests, an answer to a later one
 * means they are lost.
 */
export class InFlightRequests {
  #times: Float64Array;
  /** Request number of the ring's head slot. */
  #base = 0;
  /** Slots from the head that are in use (answered ones inside included). */
  #span = 0;
  #head = 0;
  #size = 0;

  constructor(initialCapacity = 16) {
    this.#times = new Float64Array(Math.max(2, initialCapacity)).fill(Number.NaN);
  }

  /** Unanswered requests. */
  get size(): number {
    return this.#size;
  }

  /** Records a request sent at `time`; returns its number. */
  push(time: number): number {
    if (this.#span === this.#times.length) this.#grow();
    this.#times[(this.#head + this.#span) % this.#times.length] = time;
    this.#span++;
    this.#size++;
    return this.#base + this.#span - 1;
  }

  /** The send time of unanswered request `number`, now answered; undefined when it is not unanswered. */
  take(number: number): number | undefined {
    const offset = number - this.#base;
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.#span) return undefined;
    const slot = (this.#head + offset) % this.#times.length;
    const time = this.#times[slot]!;
    if (Number.isNaN(time)) return undefined;
    this.#times[slot] = Number.NaN;
    this.#size--;
    this.#trim();
    return time;
  }

  /** The send time of the oldest unanswered request, now answered; undefined when there is none. */
  shift(): number | undefined {
    for (let offset = 0; offset < this.#span; offset++) {
      const time = this.#times[(this.#head + offset) % this.#times.length]!;
      if (!Number.isNaN(time)) return this.take(this.#base + offset);
    }
    return undefined;
  }

  /** Forgets the unanswered requests numbered below `number`; returns how many there were. */
  dropBefore(number: number): number {
    let dropped = 0;
    const end = Math.min(number - this.#base, this.#span);
    for (let offset = 0; offset < end; offset++) {
      const slot = (this.#head + offset) % this.#times.length;
      if (!Number.isNaN(this.#times[slot]!)) {
        this.#times[slot] = Number.NaN;
        dropped++;
      }
    }
    this.#size -= dropped;
    this.#trim();
    return dropped;
  }

  /** Forgets every unanswered request (numbering goes on). */
  clear(): void {
    this.dropBefore(this.#base + this.#span);
  }

  /** Moves the head past answered slots. */
  #trim(): void {
    while (this.#span > 0 && Number.isNaN(this.#times[this.#head]!)) {
      this.#head = (this.#head + 1) % this.#times.length;
      this.#base++;
      this.#span--;
    }
  }

  #grow(): void {
    const next = new Float64Array(this.#times.length * 2).fill(Number.NaN);
    for (let i = 0; i < this.#span; i++) {
      next[i] = this.#times[(this.#head + i) % this.#times.length]!;
    }
    this.#times = next;
    this.#head = 0;
  }
}
