/**
 * Child process of bench/notify: opens COUNT idle connections to a server
 * (a Tidewire node when ENDPOINT is an HTTP URL: session + hello first; a bare
 * node:net server when it is "bare:<port>"), reports "ready", and then the
 * arrival time of the first (ver 0, cmd 400) push on each connection.
 * Times are performance.timeOrigin + performance.now(): comparable across
 * processes of one machine.
 */

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { CoreCommand } from '@tidewire/wire';
import { handFramer, sayHello } from '../shared/net-echo.ts';

const [endpoint = '', countText = '1000'] = process.argv.slice(2);
const count = Number(countText);
const now = (): number => performance.timeOrigin + performance.now();
const arrivals: number[] = [];
const sockets: Socket[] = [];

async function open(index: number): Promise<void> {
  let host = '127.0.0.1';
  let port: number;
  let sid: string | null = null;
  if (endpoint.startsWith('bare:')) {
    port = Number(endpoint.slice(5));
  } else {
    const res = await fetch(`${endpoint}/v1/endpoint/tcp/user/bench-${index}`);
    if (!res.ok) throw new Error(`session refused: ${res.status}`);
    const body = (await res.json()) as { sid: string; host: string; port: number };
    ({ host, port, sid } = body);
  }
  const socket = connect({ host, port, noDelay: true });
  await once(socket, 'connect');
  sockets.push(socket);
  if (sid !== null) await sayHello(socket, sid);
  let received = false;
  socket.on(
    'data',
    handFramer((chunk, start) => {
      const cmd = (chunk[start + 3]! << 8) | chunk[start + 4]!;
      if (cmd === CoreCommand.Notification && !received) {
        received = true;
        arrivals.push(now());
        if (arrivals.length === count) process.send?.({ arrivals });
      }
    }),
  );
}

// Bounded concurrency: the session endpoint and accept queue are not the subject.
let next = 0;
await Promise.all(
  Array.from({ length: 100 }, async () => {
    while (next < count) await open(next++);
  }),
);
process.send?.({ ready: true });
process.on('message', (message: { exit?: boolean }) => {
  if (message.exit) {
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  }
});
