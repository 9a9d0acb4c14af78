/**
 * Per-command counts and latency buckets kept as plain numbers on the hot
 * path (one Map lookup by an integer key per command, no label objects, no
 * string work) and turned into Prometheus samples only when /metrics is
 * scraped.
 */
export class CommandStats {
  /** Upper bounds of the latency buckets, seconds (the last bucket is +Inf). */
  readonly bounds: readonly number[];
  readonly #byCommand = new Map<number, CommandEntry>();

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
  }

  /** One finished command chain. */
  record(ver: number, cmd: number, ok: boolean, seconds: number): void {
    const key = ver * 65_536 + cmd;
    let entry = this.#byCommand.get(key);
    if (entry === undefined) {
      entry = new CommandEntry(ver, cmd, this.bounds.length);
      this.#byCommand.set(key, entry);
    }
    if (ok) entry.ok++;
    else entry.failed++;
    entry.sum += seconds;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    entry.buckets[i]!++;
  }

  /** Every command seen, in the order first seen. */
  entries(): IterableIterator<CommandEntry> {
    return this.#byCommand.values();
  }
}

export class CommandEntry {
  readonly ver: number;
  readonly cmd: number;
  ok = 0;
  failed = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  readonly buckets: number[];

  constructor(ver: number, cmd: number, bucketCount: number) {
    this.ver = ver;
    this.cmd = cmd;
    this.buckets = new Array<number>(bucketCount + 1).fill(0);
  }
}
