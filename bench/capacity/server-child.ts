/**
 * The server side of bench/capacity, in its own process so that its RSS is
 * its own: `tidewire` (@tidewire/server, the built package, TCP, UDP and the
 * HTTP session endpoint) or `bare` (a node:net server that only holds sockets).
 * Tells the parent its ports over IPC; on 'gc' runs a full GC and answers.
 */
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { createServer } from '@tidewire/server';

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
