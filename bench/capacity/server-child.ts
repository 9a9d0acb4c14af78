/**
 * The server side of bench/capacity, in its own process so that its RSS is
 * its own: `tidewire` (@tidewire/server, the built package, TCP, UDP and the
 * HTTP session endpoint), `tidewire-ws` (the same with WebSocket only, on the
 * HTTP endpoint's port), `bare` (a node:net server that only holds sockets) or
 * `bare-ws` (a bare `ws` server that only holds WebSockets).
 * Tells the parent its ports over IPC; on 'gc' runs a full GC and answers.
 */

import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { createServer } from '@tidewire/server';
import { WebSocketServer } from 'ws';

const kind = process.argv[2];
const send = (message: unknown): void => {
  process.send?.(message);
};

process.on('message', (message) => {
  if (message === 'gc') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    setTimeout(() => send({ type: 'gc-done' }), 300);
  } else if (message === 'exit') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

if (kind === 'tidewire') {
  const server = createServer({
    config: {
      http: { port: 0, sessionTTL: 300 },
      // Idle sessions are the point: no idle timeout within the bench's lifetime.
      tcp: { port: 0, connectionTTL: 600 },
      udp: { port: 0, connectionTTL: 600 },
    },
  });
  await server.setupAsTCPServer();
  await server.setupAsUDPServer();
  await server.start();
  send({
    type: 'ready',
    httpPort: server.httpPort,
    tcpPort: server.tcpPort,
    udpPort: server.udpPort,
  });
} else if (kind === 'tidewire-ws') {
  const server = createServer({
    config: {
      http: { port: 0, sessionTTL: 300 },
      ws: { connectionTTL: 600 },
    },
  });
  await server.setupAsWSServer();
  await server.start();
  send({ type: 'ready', httpPort: server.httpPort, tcpPort: 0, udpPort: 0 });
} else if (kind === 'bare-ws') {
  // The floor: `ws` (the version @tidewire/transport-ws uses), permessage-deflate off.
  const http = createHttpServer();
  const wss = new WebSocketServer({
    server: http,
    perMessageDeflate: false,
    clientTracking: false,
  });
  wss.on('connection', (socket) => {
    socket.on('message', () => {});
    socket.on('error', () => {});
  });
  http.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    send({ type: 'ready', httpPort: (http.address() as AddressInfo).port, tcpPort: 0 });
  });
} else if (kind === 'bare') {
  const sockets = new Set<Socket>();
  const server = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  server.on('listening', () => {
    send({ type: 'ready', httpPort: 0, tcpPort: (server.address() as AddressInfo).port });
  });
} else {
  process.stderr.write(`server-child: unknown kind ${String(kind)}\n`);
  process.exit(2);
}
