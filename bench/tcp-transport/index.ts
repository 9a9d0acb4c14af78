/**
 * bench/tcp-transport: frame echo round trips per second through
 * @tidewire/transport-tcp (listenTcp + dialTcp, an echo that sends each
 * received frame back) against a bare node:net echo server and client that do
 * the same 10-byte-header framing by hand, in the same run.
 *
 *   node scripts/bench.mjs tcp-transport
 *
 * Each client keeps one request in flight. Rounds alternate the order of the
 * two implementations; the table shows medians and the ratio tidewire / bare.
 *
 * A second table measures push bursts (the server sends 20 frames per tick to
 * each of 100 clients) with per-tick write coalescing on and off, against bare
 * node:net writes: the measurement behind `coalesceWrites`.
 */

import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { dialTcp, listenTcp, type TcpConnection } from '@tidewire/transport-tcp';
import { encodeFrame, HEADER_SIZE, Status, writeHeader } from '@tidewire/wire';

const DURATION_MS = Number(process.env.BENCH_TIME_MS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PAYLOAD = new Uint8Array(32).fill(7);
const REQUEST = encodeFrame(2, 1, Status.Request, PAYLOAD);

interface Running {
  /** Stops issuing requests, waits for the ones in flight, closes everything; returns round trips. */
  stop(): Promise<number>;
}

// --- Tidewire --------------------------------------------------------------

async function startTidewire(clients: number): Promise<Running> {
  const listener = await listenTcp({ idleTimeoutMs: 0 }, (connection) => {
    connection.onFrame = (frame) => {
      connection.sendFrame(frame.ver, frame.cmd, Status.Ok, frame.payload);
    };
  });
  let count = 0;
  let running = true;
  let inFlight = 0;
  let settle: (() => void) | null = null;
  const connections: TcpConnection[] = await Promise.all(
    Array.from({ length: clients }, () =>
      dialTcp({ host: '127.0.0.1', port: listener.port, idleTimeoutMs: 0 }),
    ),
  );
  for (const connection of connections) {
    connection.onFrame = () => {
      count++;
      if (running) {
        connection.send(REQUEST);
      } else if (--inFlight === 0) {
        settle?.();
      }
    };
  }
  for (const connection of connections) connection.send(REQUEST);
  return {
    async stop() {
      running = false;
      inFlight = clients;
      await new Promise<void>((resolve) => {
        settle = resolve;
      });
      const total = count;
      await Promise.all(connections.map((c) => c.close()));
      await listener.close();
      return total;
    },
  };
}

// --- Bare node:net, framing by hand ---------------------------------------

/** Splits a byte stream into frames by hand: the same work FrameDecoder does, minimally. */
function handFramer(
  onFrame: (chunk: Buffer, start: number, end: number) => void,
): (data: Buffer) => void {
  let pending: Buffer | null = null;
  return (data) => {
    let buffer = data;
    if (pending !== null) {
      buffer = Buffer.concat([pending, data]);
      pending = null;
    }
    let offset = 0;
    while (buffer.length - offset >= HEADER_SIZE) {
      if (buffer[offset] !== 0xd1 || buffer[offset + 1] !== 0xde) throw new Error('bad magic');
      const end = offset + HEADER_SIZE + buffer.readUInt32BE(offset + 6);
      if (end > buffer.length) break;
      onFrame(buffer, offset, end);
      offset = end;
    }
    if (offset < buffer.length) pending = Buffer.from(buffer.subarray(offset));
  };
}

async function startBare(clients: number): Promise<Running> {
  const serverSockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    serverSockets.add(socket);
    socket.on('close', () => serverSockets.delete(socket));
    socket.on(
      'data',
      handFramer((chunk, start, end) => {
        const length = end - start - HEADER_SIZE;
        const reply = Buffer.allocUnsafe(HEADER_SIZE + length);
        writeHeader(
          reply,
          0,
          chunk[start + 2]!,
          (chunk[start + 3]! << 8) | chunk[start + 4]!,
          Status.Ok,
          length,
        );
        chunk.copy(reply, HEADER_SIZE, start + HEADER_SIZE, end);
        socket.write(reply);
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let count = 0;
  let running = true;
  let inFlight = 0;
  let settle: (() => void) | null = null;
  const sockets = await Promise.all(
    Array.from({ length: clients }, async () => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      await once(socket, 'connect');
      return socket;
    }),
  );
  for (const socket of sockets) {
    socket.on(
      'data',
      handFramer(() => {
        count++;
        if (running) {
          socket.write(REQUEST);
        } else if (--inFlight === 0) {
          settle?.();
        }
      }),
    );
  }
  for (const socket of sockets) socket.write(REQUEST);
  return {
    async stop() {
      running = false;
      inFlight = clients;
      await new Promise<void>((resolve) => {
        settle = resolve;
      });
      const total = count;
      await Promise.all(
        sockets.map((socket) => {
          socket.end();
          return once(socket, 'close');
        }),
      );
      for (const socket of serverSockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return total;
    },
  };
}

// --- Push bursts: the server sends BURST frames per tick to every client ------

const BURST = 20;
const PUSH = encodeFrame(2, 7, Status.Push, PAYLOAD);
const PUSH_CLIENTS = 100;
const QUEUE_LIMIT = 256 * 1024;

async function startTidewirePush(coalesceWrites: boolean): Promise<Running> {
  const listener = await listenTcp({ idleTimeoutMs: 0, coalesceWrites }, () => {});
  let count = 0;
  const clients = await Promise.all(
    Array.from({ length: PUSH_CLIENTS }, () =>
      dialTcp({ host: '127.0.0.1', port: listener.port, idleTimeoutMs: 0 }),
    ),
  );
  for (const client of clients) {
    client.onFrame = () => {
      count++;
    };
  }
  while (listener.connections.size < PUSH_CLIENTS) await new Promise((r) => setImmediate(r));
  let running = true;
  const tick = (): void => {
    if (!running) return;
    for (const connection of listener.connections) {
      if (connection.bufferedBytes > QUEUE_LIMIT) continue;
      for (let i = 0; i < BURST; i++) connection.send(PUSH);
    }
    setImmediate(tick);
  };
  tick();
  return {
    async stop() {
      running = false;
      const total = count;
      await Promise.all(clients.map((c) => c.close()));
      await listener.close();
      return total;
    },
  };
}

async function startBarePush(): Promise<Running> {
  const serverSockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    serverSockets.add(socket);
    socket.on('close', () => serverSockets.delete(socket));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let count = 0;
  const sockets = await Promise.all(
    Array.from({ length: PUSH_CLIENTS }, async () => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      await once(socket, 'connect');
      socket.on(
        'data',
        handFramer(() => {
          count++;
        }),
      );
      return socket;
    }),
  );
  while (serverSockets.size < PUSH_CLIENTS) await new Promise((r) => setImmediate(r));
  let running = true;
  const tick = (): void => {
    if (!running) return;
    for (const socket of serverSockets) {
      if (socket.writableLength > QUEUE_LIMIT) continue;
      for (let i = 0; i < BURST; i++) socket.write(PUSH);
    }
    setImmediate(tick);
  };
  tick();
  return {
    async stop() {
      running = false;
      const total = count;
      for (const socket of sockets) socket.destroy();
      for (const socket of serverSockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return total;
    },
  };
}

// --- Harness -----------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function measure(
  start: (clients: number) => Promise<Running>,
  clients: number,
): Promise<number> {
  const running = await start(clients);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
  const trips = await running.stop();
  return trips / ((performance.now() - started) / 1000);
}

const implementations = { tidewire: startTidewire, bare: startBare } as const;
const rows: Record<string, string>[] = [];

for (const clients of [1, 100]) {
  // Warm-up, not recorded.
  await measure(startTidewire, clients);
  await measure(startBare, clients);
  const samples: Record<keyof typeof implementations, number[]> = { tidewire: [], bare: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order: (keyof typeof implementations)[] =
      round % 2 === 0 ? ['tidewire', 'bare'] : ['bare', 'tidewire'];
    for (const name of order) samples[name].push(await measure(implementations[name], clients));
  }
  const ours = median(samples.tidewire);
  const bare = median(samples.bare);
  rows.push({
    clients: String(clients),
    'tidewire round trips/s': Math.round(ours).toLocaleString('en-US'),
    'bare node:net round trips/s': Math.round(bare).toLocaleString('en-US'),
    ratio: `${(ours / bare).toFixed(2)}x`,
  });
}

console.log(
  `tcp-transport bench (node ${process.version}, ${PAYLOAD.length} B payload, median of ${ROUNDS} rounds of ${DURATION_MS} ms)`,
);
console.log('\nEcho: one request in flight per client');
console.table(rows);

// Push bursts: frames received per second by 100 clients.
const pushImplementations = {
  'tidewire (coalesced)': () => startTidewirePush(true),
  'tidewire (coalesceWrites: false)': () => startTidewirePush(false),
  bare: startBarePush,
} as const;
type PushName = keyof typeof pushImplementations;
const pushNames = Object.keys(pushImplementations) as PushName[];
for (const name of pushNames) await measure(pushImplementations[name], PUSH_CLIENTS);
const pushSamples = new Map<PushName, number[]>(pushNames.map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? pushNames : [...pushNames].reverse();
  for (const name of order) {
    pushSamples.get(name)!.push(await measure(pushImplementations[name], PUSH_CLIENTS));
  }
}
const bareRate = median(pushSamples.get('bare')!);
console.log(
  `\nPush: ${BURST} frames per tick to each of ${PUSH_CLIENTS} clients, frames received/s`,
);
console.table(
  pushNames.map((name) => {
    const rate = median(pushSamples.get(name)!);
    return {
      implementation: name,
      'frames/s': Math.round(rate).toLocaleString('en-US'),
      'ratio vs bare': `${(rate / bareRate).toFixed(2)}x`,
    };
  }),
);
