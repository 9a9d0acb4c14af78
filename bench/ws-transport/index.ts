/**
 * bench/ws-transport: frame echo round trips per second through
 * @tidewire/transport-ws (listenWs + dialWs, an echo that sends each received
 * frame back) against a bare `ws` echo server and bare `ws` clients that
 * answer each binary message with the Ok frame by hand, in the same run.
 *
 *   pnpm bench:ws-transport   (or: node scripts/bench.mjs ws-transport)
 *
 * Both sides use the same `ws` version, permessage-deflate off, on loopback.
 * Each client keeps one request in flight. Rounds alternate the order of the
 * two implementations; the table shows medians and the ratio tidewire / bare.
 * The goal (docs/benchmarks.md): tidewire / bare >= 0.80x at 1 and 100 clients.
 */

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dialWs, listenWs, type WsConnection } from '@tidewire/transport-ws';
import { encodeFrame, HEADER_SIZE, Status } from '@tidewire/wire';
import WebSocket, { WebSocketServer } from 'ws';
import { printGoals } from '../shared/goal.ts';
import { compareEcho, DURATION_MS, okReply, ROUNDS, type Running } from '../shared/net-echo.ts';

const PAYLOAD = new Uint8Array(32).fill(7);
const REQUEST = encodeFrame(2, 1, Status.Request, PAYLOAD);

/** Keeps one request in flight per client; `send` sends REQUEST on client `index`. */
function echoLoop(
  clients: number,
  send: (index: number) => void,
): { onReply(index: number): void; start(): void; stop(): Promise<number> } {
  let count = 0;
  let running = true;
  let inFlight = 0;
  let settle: (() => void) | null = null;
  return {
    onReply(index) {
      count++;
      if (running) send(index);
      else if (--inFlight === 0) settle?.();
    },
    start() {
      for (let i = 0; i < clients; i++) send(i);
    },
    async stop() {
      running = false;
      inFlight = clients;
      await new Promise<void>((resolve) => {
        settle = resolve;
      });
      return count;
    },
  };
}

// --- Tidewire ----------------------------------------------------------------

async function startTidewire(clients: number): Promise<Running> {
  const listener = await listenWs({ idleTimeoutMs: 0 }, (connection) => {
    connection.onFrame = (frame) => {
      connection.send(encodeFrame(frame.ver, frame.cmd, Status.Ok, frame.payload));
    };
  });
  const url = `ws://127.0.0.1:${listener.port}${listener.path}`;
  const connections: WsConnection[] = await Promise.all(
    Array.from({ length: clients }, () => dialWs({ url, idleTimeoutMs: 0 })),
  );
  const loop = echoLoop(clients, (index) => connections[index]!.send(REQUEST));
  connections.forEach((connection, index) => {
    connection.onFrame = () => loop.onReply(index);
  });
  loop.start();
  return {
    async stop() {
      const total = await loop.stop();
      await Promise.all(connections.map((c) => c.close()));
      await listener.close();
      return total;
    },
  };
}

// --- Bare ws, framing by hand --------------------------------------------------

async function startBare(clients: number): Promise<Running> {
  const http = createServer();
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      // Each message is one whole frame here: answer it with the Ok frame.
      socket.send(okReply(data, 0, HEADER_SIZE + data.readUInt32BE(6)), { binary: true });
    });
  });
  const { port } = http.address() as AddressInfo;
  const sockets = await Promise.all(
    Array.from({ length: clients }, async () => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
      await once(socket, 'open');
      return socket;
    }),
  );
  const loop = echoLoop(clients, (index) => sockets[index]!.send(REQUEST, { binary: true }));
  sockets.forEach((socket, index) => {
    socket.on('message', () => loop.onReply(index));
  });
  loop.start();
  return {
    async stop() {
      const total = await loop.stop();
      await Promise.all(
        sockets.map((socket) => {
          socket.close();
          return once(socket, 'close');
        }),
      );
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      return total;
    },
  };
}

// --- Harness -------------------------------------------------------------------

const { rows, ratios } = await compareEcho(
  { ours: 'tidewire', baseline: 'bare ws' },
  startTidewire,
  startBare,
  [1, 100],
);

console.log(
  `ws-transport bench (node ${process.version}, ${PAYLOAD.length} B payload, median of ${ROUNDS} rounds of ${DURATION_MS} ms)`,
);
console.log('\nEcho: one request in flight per client');
console.table(rows);
printGoals(
  'ws-transport',
  ratios.map(({ clients, ratio }) => ({
    what: `${clients} client${clients === 1 ? '' : 's'} tidewire / bare ws`,
    value: ratio,
    bound: '>=',
    target: 0.8,
  })),
);
