/** A FIFO of send times (ms): a growable ring over a Float64Array, no allocation per entry. */
export class TimestampQueue {
  #buffer: Float64Array;
  #head = 0;
  #size = 0;

  constructor(initialCapacity = 16) {
    this.#buffer = new Float64Array(Math.max(2, initialCapacity));
  }

  get size(): number {
    return this.#size;
  }

  push(time: number): void {
    if (this.#size === this.#buffer.length) this.#grow();
    this.#buffer[(this.#head + this.#size) % this.#buffer.length] = time;
    this.#size++;
  }

  /** The oldest time, removed; undefined when empty. */
  shift(): number | undefined {
    if (this.#size === 0) return undefined;
    const time = this.#buffer[this.#head];
    this.#head = (this.#head + 1) % this.#buffer.length;
    this.#size--;
    return time;
  }

  clear(): void {
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const next = new Float64Array(this.#buffer.length * 2);
    for (let i = 0; i < this.#size; i++) {
      next[i] = this.#buffer[(this.#head + i) % this.#buffer.length] ?? 0;
    }
    this.#buffer = next;
    this.#head = 0;
  }
}
