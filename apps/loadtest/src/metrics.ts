/** Process figures read from a Prometheus text endpoint (`/metrics`). */
export interface ServerSample {
  /** `process_cpu_seconds_total`, or null when the endpoint does not report it. */
  cpuSeconds: number | null;
  /** `process_resident_memory_bytes`, or null when the endpoint does not report it. */
  rssBytes: number | null;
  /** `tidewire_retransmits_total` (reliable UDP packets sent again), or null when not reported. */
  retransmits: number | null;
  /** When the sample was taken (performance.now(), ms). */
  at: number;
}

/**
 * Reads one sample from a Prometheus text endpoint. Resolves with null when
 * the endpoint is absent (no answer, an error status, or neither metric in
 * the body); never rejects.
 */
export async function scrapeServer(url: string, timeoutMs = 2000): Promise<ServerSample | null> {
  let text: string;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.body?.cancel();
      return null;
    }
    text = await response.text();
  } catch {
    return null;
  }
  const cpuSeconds = readMetric(text, 'process_cpu_seconds_total');
  const rssBytes = readMetric(text, 'process_resident_memory_bytes');
  if (cpuSeconds === null && rssBytes === null) return null;
  const retransmits = readMetric(text, 'tidewire_retransmits_total');
  return { cpuSeconds, rssBytes, retransmits, at: performance.now() };
}

/** The value of an unlabelled sample `name` in Prometheus text format, or null. */
export function readMetric(text: string, name: string): number | null {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    // `name value [timestamp]` or `name{} value`; labelled series are not process totals.
    const match = /^(?:\{\})?\s+(\S+)/.exec(rest);
    if (match === null) continue;
    const value = Number(match[1]);
    if (Number.isFinite(value)) return value;
  }
  return null;
}
