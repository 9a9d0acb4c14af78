/**
 * bench/tcp: command round trips per second through the whole server path
 * (@tidewire/server: transport-tcp, the hello, the command router and one echo
 * handler answering Ok) against a bare node:net echo server doing the same
 * framing by hand, in the same run. Both are driven by the same bare node:net
 * clients (one request in flight each), so the ratio is the server's cost.
 *
 *   node scripts/bench.mjs tcp
 */

import type { Socket } from 'node:net';
import { createServer, Ok } from '@tidewire/server';
import { encodeFrame, Status } from '@tidewire/wire';
import { printGoals } from '../shared/goal.ts';
import {
  compareEcho,
  DURATION_MS,
  fetchTcpSession,
  ROUNDS,
  type Running,
  sayHello,
  startBareEcho,
  startEchoClients,
} from '../shared/net-echo.ts';

const PAYLOAD = new Uint8Array(32).fill(7);
const REQUEST = encodeFrame(2, 1, Status.Request, PAYLOAD);
const CLIENT_COUNTS = (process.env.BENCH_CLIENTS ?? '1,100').split(',').map(Number);

async function startTidewire(clients: number): Promise<Running> {
  const server = createServer({
    config: { http: { port: 0 }, tcp: { port: 0 }, commands: { maxQueuedCommands: 4096 } },
  });
  await server.setupAsTCPServer();
  server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, payload, Ok);
    next();
  });
  await server.start();
  const endpoint = `http://127.0.0.1:${server.httpPort}`;
  const tcpPort = server.tcpPort;
  // The session step and the hello happen before the clock starts.
  const hello = async (socket: Socket, index: number): Promise<void> => {
    await sayHello(socket, await fetchTcpSession(endpoint, `bench-${index}`));
  };
  const running = await startEchoClients(tcpPort, clients, REQUEST, hello);
  return {
    async stop() {
      const total = await running.stop();
      await server.close();
      return total;
    },
  };
}

const startBare = (clients: number): Promise<Running> => startBareEcho(clients, REQUEST);

const { rows, ratios } = await compareEcho(
  { ours: 'tidewire server', baseline: 'bare node:net' },
  startTidewire,
  startBare,
  CLIENT_COUNTS,
);
console.log(
  `tcp bench (node ${process.version}, ${PAYLOAD.length} B payload, median of ${ROUNDS} rounds of ${DURATION_MS} ms)`,
);
console.log('Command round trips: server + router + echo handler vs bare node:net echo');
console.table(rows);
printGoals(
  'tcp',
  ratios.map(({ clients, ratio }) => ({
    what: `${clients} client${clients === 1 ? '' : 's'}: tidewire server / bare node:net round trips`,
    value: ratio,
    bound: '>=',
    target: 0.85,
  })),
);
