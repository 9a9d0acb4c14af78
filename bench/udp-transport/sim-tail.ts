/**
 * bench/udp-transport/sim-tail.ts: the round-trip tail of reliable UDP under
 * loss, in the session's simulated link (test/sim.ts: a virtual clock, no
 * sockets), so that a run is a pure function of its seeds and a change to a
 * loss rule can be compared without the real bench's run-to-run spread.
 *
 *   node --import tsx bench/udp-transport/sim-tail.ts
 *
 * SIM_PAIRS (300) client/server session pairs, each for SIM_SECONDS (20) of
 * virtual time: the client sends a 64 B reliable request at 20 Hz, the
 * server answers it at once (the answer carries the ACK of the request);
 * 3-7 ms each way, SIM_LOSS (0.05) loss each way. Run once with the
 * clients' ACKs at once and once with `ackDelayMs` SIM_ACK_DELAY (60);
 * round trips of the first 2 s are left out. Prints p50/p99/p999/max, the
 * datagrams sent and the retransmissions, and the ratio of the delayed
 * clients' p99 to the immediate ones'. SIM_SHOW=n prints the packets around
 * the first n round trips slower than SIM_SLOW_MS (40): which were lost.
 *
 * SIM_MODE=push: the server pushes a 64 B reliable message at 20 Hz to a
 * client that sends nothing (a state or event stream): what a client's
 * `ackDelayMs` costs when it has no request for its ACK to ride with.
 * SIM_MODE=push-inputs: the same pushes, while the client sends a 64 B
 * unreliable input at 20 Hz (a game client's inputs up, reliable events
 * down): the client's ACKs ride with its inputs. Latency is then from the
 * push to its delivery.
 */
import { mulberry32 } from '../../packages/transport-udp/test/prng.ts';
import { SimNet } from '../../packages/transport-udp/test/sim.ts';

const PAIRS = Number(process.env.SIM_PAIRS ?? 300);
const SECONDS = Number(process.env.SIM_SECONDS ?? 20);
const LOSS = Number(process.env.SIM_LOSS ?? 0.05);
const ACK_DELAY = Number(process.env.SIM_ACK_DELAY ?? 60);
const SHOW = Number(process.env.SIM_SHOW ?? 0);
const SLOW_MS = Number(process.env.SIM_SLOW_MS ?? 40);
for (const [name, value, low, high] of [
  ['SIM_PAIRS', PAIRS, 1, 100_000],
  ['SIM_SECONDS', SECONDS, 3, 3600],
  ['SIM_ACK_DELAY', ACK_DELAY, 1, 250],
  ['SIM_SHOW', SHOW, 0, 10_000],
  ['SIM_SLOW_MS', SLOW_MS, 0, 60_000],
] as const) {
  if (!Number.isInteger(value) || value < low || value > high) {
    console.error(
      `sim-tail: ${name} must be an integer in ${low}..${high}, got ${process.env[name]}`,
    );
    process.exit(2);
  }
}
if (!(LOSS >= 0 && LOSS < 1)) {
  console.error(`sim-tail: SIM_LOSS must be a share in [0, 1), got ${process.env.SIM_LOSS}`);
  process.exit(2);
}
const PUSH = process.env.SIM_MODE === 'push' || process.env.SIM_MODE === 'push-inputs';
const INPUTS = process.env.SIM_MODE === 'push-inputs';
if (process.env.SIM_MODE !== undefined && !PUSH) {
  console.error(
    `sim-tail: SIM_MODE must be push, push-inputs or unset, got ${process.env.SIM_MODE}`,
  );
  process.exit(2);
}
const INTERVAL_MS = 50;
const WARMUP_MS = 2000;
/** Marks the id in a request (and in its echo), so that a packet's contents can be named. */
const MARK = 0xee;

interface TailResult {
  ackDelayMs: number;
  roundTrips: number[];
  datagrams: number;
  retransmits: number;
  slow: string[];
}

function run(ackDelayMs: number): TailResult {
  const result: TailResult = { ackDelayMs, roundTrips: [], datagrams: 0, retransmits: 0, slow: [] };
  for (let pair = 0; pair < PAIRS; pair++) {
    const net = new SimNet(pair + 1, { loss: 0, duplicate: 0, delayMs: 3, jitterMs: 4 }, [
      { ackDelayMs },
      { peerAckDelayMs: ackDelayMs },
    ]);
    // the loss is drawn here, the same for both runs, so that each packet's fate is known
    const random = mulberry32(1000 + pair);
    const log: { at: number; what: string }[] = [];
    net.onTransmit = (to, body) => {
      const lost = random() < LOSS;
      if (SHOW > 0) log.push({ at: net.now, what: describe(to, body, lost) });
      return !lost;
    };
    const [client, server] = net.peers;
    server.onReliable = (request) => {
      server.session.sendReliable(request, net.now);
      net.touch(1);
    };
    // who sends the 20 Hz messages: the client (requests) or the server (pushes)
    const [sender, side] = PUSH ? ([server, 1] as const) : ([client, 0] as const);
    const sentAt: number[] = [];
    const end = SECONDS * 1000;
    const phase = Math.floor(random() * INTERVAL_MS);
    let delivered = 0;
    while (net.now < end + 2000) {
      if (net.now < end && net.now >= phase + sentAt.length * INTERVAL_MS) {
        const request = Buffer.alloc(64);
        request[0] = MARK;
        request[1] = MARK;
        request.writeUInt16BE(sentAt.length, 2);
        sentAt.push(net.now);
        sender.session.sendReliable(request, net.now);
        net.touch(side);
        if (INPUTS) {
          client.session.sendUnreliable(request, net.now);
          net.touch(0);
        }
      }
      net.step(1);
      while (delivered < client.reliable.length) {
        const id = client.reliable[delivered++]!.readUInt16BE(2);
        const roundTrip = net.now - sentAt[id]!;
        if (sentAt[id]! >= WARMUP_MS) result.roundTrips.push(roundTrip);
        if (roundTrip >= SLOW_MS && result.slow.length < SHOW) {
          const from = sentAt[id]! - INTERVAL_MS;
          const lines = log
            .filter((entry) => entry.at >= from && entry.at <= net.now)
            .map((entry) => `  ${entry.at - sentAt[id]!} ms: ${entry.what}`);
          result.slow.push(`pair ${pair}, request ${id}: ${roundTrip} ms\n${lines.join('\n')}`);
        }
      }
    }
    result.datagrams += net.transmitted;
    result.retransmits += client.session.stats.retransmits + server.session.stats.retransmits;
  }
  result.roundTrips.sort((a, b) => a - b);
  return result;
}

/** `C->S request 3,4`, `S->C answer 3` (push modes: `input`, `push`), `S->C ACK`; ` LOST` when the link drops it. */
function describe(to: 0 | 1, body: Buffer, lost: boolean): string {
  const ids: number[] = [];
  for (let i = 0; i + 4 <= body.length; i++) {
    if (body[i] === MARK && body[i + 1] === MARK) ids.push(body.readUInt16BE(i + 2));
  }
  const direction = to === 1 ? 'C->S' : 'S->C';
  const what = to === 1 ? (PUSH ? 'input' : 'request') : PUSH ? 'push' : 'answer';
  const contents = ids.length === 0 ? 'ACK' : `${what} ${ids.join(',')}`;
  return `${direction} ${contents}${lost ? ' LOST' : ''}`;
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const immediate = run(0);
const delayed = run(ACK_DELAY);
console.log(
  `sim-tail: ${PAIRS} pairs x ${SECONDS} s, 20 Hz ${INPUTS ? 'server pushes, client inputs (unreliable)' : PUSH ? 'server pushes to a silent client' : 'request/answer'}, 3-7 ms each way, ${LOSS * 100}% loss each way`,
);
console.table(
  [immediate, delayed].map((r) => ({
    clients: r.ackDelayMs === 0 ? 'ACK at once' : `ackDelayMs ${r.ackDelayMs}`,
    [PUSH ? 'pushes' : 'round trips']: r.roundTrips.length,
    'p50 ms': quantile(r.roundTrips, 0.5),
    'p99 ms': quantile(r.roundTrips, 0.99),
    'p999 ms': quantile(r.roundTrips, 0.999),
    'max ms': r.roundTrips.at(-1),
    datagrams: r.datagrams,
    retransmits: r.retransmits,
  })),
);
const ratio = quantile(delayed.roundTrips, 0.99) / quantile(immediate.roundTrips, 0.99);
console.log(`p99 with ackDelayMs ${ACK_DELAY} / at once: ${ratio.toFixed(2)}x`);
for (const r of [immediate, delayed]) {
  if (r.slow.length === 0) continue;
  console.log(`\nslowest round trips (>= ${SLOW_MS} ms), clients ackDelayMs ${r.ackDelayMs}:`);
  console.log(r.slow.join('\n'));
}
