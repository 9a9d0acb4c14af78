import type { LatencySummary } from './histogram.ts';
import type { LoadReport, Progress } from './runner.ts';

/** µs → "0.213 ms" / "12.4 ms" / "1.52 s". */
export function formatMicros(micros: number): string {
  if (micros >= 1_000_000) return `${(micros / 1_000_000).toFixed(2)} s`;
  const ms = micros / 1000;
  return `${ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(3)} ms`;
}

/** Bytes → "512 B" / "5.8 KiB" / "12.3 MiB". */
export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (abs >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

/**
 * What the RSS change says: growth per open connection when RSS grew (heap
 * and GC timing included: bench/capacity measures idle sessions after a full
 * GC), no figure when a collection made it fall.
 */
function rssNote(deltaBytes: number, perConnectionBytes: number | null): string {
  if (perConnectionBytes !== null)
    return ` (+${formatBytes(deltaBytes)}: ${formatBytes(perConnectionBytes)} per open connection, heap and GC included)`;
  return deltaBytes < 0
    ? ' (fell: a GC freed more than the connections took; no per-connection figure)'
    : ' (unchanged; no per-connection figure)';
}

function formatCount(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);
}

/** The one-line live status. */
export function formatProgress(p: Progress): string {
  const seconds = (ms: number): string => (ms / 1000).toFixed(1);
  return (
    `[${seconds(Math.min(p.elapsedMs, p.durationMs))}s/${seconds(p.durationMs)}s] ` +
    `connected ${p.connected}/${p.clients}  msgs/s ${formatCount(p.messagesPerSecond)}  ` +
    `sent ${p.sent}  received ${p.received}  errors ${p.errors}`
  );
}

function latencyLine(s: LatencySummary, percentiles: ReadonlyArray<keyof LatencySummary>): string {
  if (s.count === 0) return 'no samples';
  const label: Record<string, string> = { p50: 'p50', p90: 'p90', p99: 'p99', p999: 'p99.9' };
  return [
    ...percentiles.map((k) => `${label[k] ?? k} ${formatMicros(s[k])}`),
    `max ${formatMicros(s.max)}`,
    `(n ${s.count})`,
  ].join('  ');
}

function sample(message: string | undefined): string {
  if (message === undefined || message === '') return '';
  return `  (first: ${message.length > 100 ? `${message.slice(0, 97)}...` : message})`;
}

/** The final table, for people. */
export function formatReport(r: LoadReport): string {
  const rows: [string, string][] = [];
  const c = r.connections;
  rows.push([
    'connections',
    `attempted ${c.attempted}  connected ${c.connected}  failed ${c.failed}  closed early ${c.closedEarly}`,
  ]);
  rows.push([
    'connect time',
    `${latencyLine(r.connectTime, ['p50', 'p99'])}  session+connect+hello`,
  ]);
  rows.push(['round trip', latencyLine(r.roundTrip, ['p50', 'p90', 'p99', 'p999'])]);
  const m = r.messages;
  rows.push([
    'messages',
    `sent ${m.sent}  received ${m.received}  ok ${m.ok}  unanswered ${m.unanswered}`,
  ]);
  rows.push([
    'throughput',
    `${formatCount(r.throughput.messagesPerSecond)} msg/s  ${formatBytes(r.throughput.bytesPerSecond)}/s payload`,
  ]);
  const errorKinds = Object.entries(r.errors).sort((a, b) => b[1] - a[1]);
  if (errorKinds.length === 0) rows.push(['errors', 'none']);
  for (const [i, [code, n]] of errorKinds.entries())
    rows.push([i === 0 ? 'errors' : '', `${code} ${n}${sample(r.errorSamples[code])}`]);
  const s = r.server;
  if (s === null) {
    rows.push(['server', 'no /metrics (CPU and RSS not measured)']);
  } else {
    const cpu =
      s.cpuSeconds === null
        ? 'CPU n/a'
        : `CPU ${s.cpuSeconds.toFixed(2)} s (${(s.cpuPercent ?? 0).toFixed(0)} % of a core)`;
    const rss =
      s.rssBeforeBytes === null || s.rssAfterBytes === null
        ? 'RSS n/a'
        : `RSS ${formatBytes(s.rssBeforeBytes)} -> ${formatBytes(s.rssAfterBytes)}` +
          rssNote(s.rssAfterBytes - s.rssBeforeBytes, s.rssPerConnectionBytes);
    const retransmits = s.retransmits === null ? '' : `  retransmits ${s.retransmits}`;
    rows.push(['server', `${cpu}  ${rss}${retransmits}`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const head =
    `tidewire-loadtest ${r.transport} ${r.target}: ${r.clients} clients, ${r.ratePerClient} msg/s each, ` +
    `${r.payloadSize} B payload, ${(r.elapsedMs / 1000).toFixed(1)} s of ${(r.durationMs / 1000).toFixed(1)} s` +
    (r.interrupted ? ' (interrupted: partial report)' : '');
  return `${head}\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`;
}
