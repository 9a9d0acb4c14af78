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
import { encodeFrame, Status } from '@tidewire/wire';
import { printGoals } from '../shared/goal.ts';
import {
  compareEcho,
  DURATION_MS,
  handFramer,
  measure,
  ROUNDS,
  type Running,
  startBareEcho,
} from '../shared/net-echo.ts';
import { median } from '../shared/stats.ts';

const PAYLOAD = new Uint8Array(32).fill(7);
const REQUEST = encodeFrame(2, 1, Status.Request, PAYLOAD);

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

const startBare = (clients: number): Promise<Running> => startBareEcho(clients, REQUEST);

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

const { rows } = await compareEcho(
  { ours: 'tidewire', baseline: 'bare node:net' },
  startTidewire,
  startBare,
  [1, 100],
);

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
printGoals('tcp-transport', []);
