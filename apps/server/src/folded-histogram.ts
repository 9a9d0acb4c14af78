import type { CommandStats } from './command-stats.ts';

interface Sample {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
}

interface FoldedMetric {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: Sample[];
}

/**
 * `tidewire_command_duration_seconds` as a prom-client metric whose samples
 * are read from `CommandStats` at scrape time: the same text a prom-client
 * Histogram with labels `ver`, `cmd` would print, without its per-observation
 * label hashing.
 */
export class FoldedCommandHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #stats: CommandStats;

  constructor(name: string, help: string, stats: CommandStats) {
    this.name = name;
    this.help = help;
    this.#stats = stats;
  }

  /** What the registry prints: buckets with `le`, the command labels shared. */
  async getForPromString(): Promise<FoldedMetric> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    const bounds = this.#stats.bounds;
    for (const entry of this.#stats.entries()) {
      const sharedLabels = { ver: String(entry.ver), cmd: String(entry.cmd) };
      let cumulative = 0;
      for (let i = 0; i < bounds.length; i++) {
        cumulative += entry.buckets[i]!;
        values.push({
          labels: { le: bounds[i]! },
          sharedLabels,
          value: cumulative,
          metricName: bucket,
        });
      }
      const count = entry.ok + entry.failed;
      values.push({ labels: { le: '+Inf' }, sharedLabels, value: count, metricName: bucket });
      values.push({ labels: {}, sharedLabels, value: entry.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels, value: count, metricName: `${this.name}_count` });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  /** The JSON form (`registry.getMetricsAsJSON()`): each sample's labels whole. */
  async get(): Promise<FoldedMetric> {
    const metric = await this.getForPromString();
    metric.values = metric.values.map((v) => ({
      labels: { ...v.sharedLabels, ...v.labels },
      value: v.value,
      metricName: v.metricName,
    }));
    return metric;
  }

  /** Nothing to reset here: the counts belong to `CommandStats`. */
  reset(): void {}
}
