/**
 * bench/wire: encode + decode of frames carrying msgpack payloads, against raw
 * msgpackr pack + unpack of the same values, in the same run.
 *
 *   pnpm bench:wire        (or: pnpm -F @tidewire/wire bench)
 *
 * Prints ops/s for both and the ratio tidewire / msgpackr (goal >= 0.9x).
 */

import { type Frame, FrameDecoder, packFrame, unpack } from '@tidewire/wire';
import { Packr } from 'msgpackr';
import { Bench } from 'tinybench';
import { printGoals } from '../shared/goal.ts';
import { median } from '../shared/stats.ts';

const raw = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

function payloadOf(bytes: number): Record<string, unknown> {
  // A realistic game message: a few typed fields and a string body filling the size.
  const base = { t: 1, seq: 123456, x: 10.5, y: -3.25, ok: true, body: '' };
  const overhead = raw.pack(base).length;
  return { ...base, body: 'x'.repeat(Math.max(0, bytes - overhead - 2)) };
}

const time = Number(process.env.BENCH_TIME_MS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const rows: { size: string; tidewire: number; msgpackr: number; ratio: number }[] = [];

for (const [label, size] of [
  ['32 B', 32],
  ['256 B', 256],
  ['4 KiB', 4096],
] as const) {
  const value = payloadOf(size);
  const decoder = new FrameDecoder();
  let sink: unknown;
  const onFrame = (frame: Frame): void => {
    sink = unpack(frame.payload);
  };
  const tasks: Record<string, () => void> = {
    'msgpackr pack+unpack': () => {
      sink = raw.unpack(raw.pack(value));
    },
    'tidewire packFrame+decode+unpack': () => {
      decoder.push(packFrame(2, 1, 0, value), onFrame);
    },
  };
  // JIT warm-up and GC favour whichever task runs later, so run several rounds,
  // alternating the order, and compare the medians.
  const samples = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(tasks);
    if (round % 2 === 1) names.reverse();
    const bench = new Bench({ time, warmup: true, warmupTime: 100 });
    for (const name of names) bench.add(name, tasks[name]!);
    await bench.run();
    for (const name of names) {
      const result = bench.getTask(name)?.result;
      if (!result || !('throughput' in result)) throw new Error(`no result for ${name}`);
      samples.set(name, [...(samples.get(name) ?? []), result.throughput.mean]);
    }
  }
  if (sink === undefined) throw new Error('benchmark produced nothing');
  const baseline = median(samples.get('msgpackr pack+unpack')!);
  const ours = median(samples.get('tidewire packFrame+decode+unpack')!);
  rows.push({
    size: label,
    tidewire: Math.round(ours),
    msgpackr: Math.round(baseline),
    ratio: ours / baseline,
  });
}

console.log(
  `wire bench (node ${process.version}, median of ${ROUNDS} rounds of ${time} ms per task)`,
);
console.table(
  rows.map((r) => ({
    payload: r.size,
    'tidewire ops/s': r.tidewire.toLocaleString('en-US'),
    'msgpackr ops/s': r.msgpackr.toLocaleString('en-US'),
    ratio: `${r.ratio.toFixed(2)}x`,
  })),
);
printGoals(
  'wire',
  rows.map((r) => ({
    what: `${r.size} tidewire / msgpackr`,
    value: r.ratio,
    bound: '>=',
    target: 0.9,
  })),
);
