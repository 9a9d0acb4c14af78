/**
 * The server side of bench/peers, in its own process so that its CPU and RSS
 * are its own. argv[2]: the kind of server (see LABELS in index.ts).
 * Tells the parent its port over IPC; answers 'stats' with CPU time and RSS
 * and V8's used heap ('stats-gc': after a full GC).
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { Room, Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { createServer, Ok } from '@tidewire/server';
import { listenTcp } from '@tidewire/transport-tcp';
import { CORE_VER, CoreCommand, encodeFrame, HEADER_SIZE, pack, Status } from '@tidewire/wire';
import { WebSocketServer } from 'ws';
import { handFramer, okReply, startBareEchoServer } from '../shared/net-echo.ts';

const kind = process.argv[2];
const send = (message: unknown): void => {
  process.send?.(message);
};
process.on('message', (message) => {
  if (message === 'stats' || message === 'stats-gc') {
    // 'stats-gc': RSS after a full GC (the server runs with --expose-gc), for
    // the idle RSS points; CPU time still read at once.
    if (message === 'stats-gc') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
    }
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    send({
      type: 'stats',
      cpuMs: (cpu.user + cpu.system) / 1000,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
    });
  } else if (message === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));

class EchoRoom extends Room {
  override maxClients = 100_000;
  override onCreate(): void {
    this.onMessage('e', (client, message) => client.send('e', message));
  }
}

if (kind === 'colyseus') {
  const server = new Server({ transport: new WebSocketTransport(), greet: false });
  server.define('echo', EchoRoom);
  await server.listen(0, '127.0.0.1');
  const address = (
    server.transport as unknown as { server: { address(): AddressInfo } }
  ).server.address();
  send({ type: 'ready', port: address.port });
} else if (
  kind === 'tidewire-tcp' ||
  kind === 'tidewire-tcp-raw' ||
  kind === 'tidewire-udp' ||
  kind === 'tidewire-udp-ackdelay' ||
  kind === 'tidewire-udp-unreliable' ||
  kind === 'tidewire-ws'
) {
  const udp = kind.startsWith('tidewire-udp');
  const ws = kind === 'tidewire-ws';
  // The unreliable kind answers on the unreliable channel, as a 20 Hz state stream would.
  const sendOptions = { reliable: kind !== 'tidewire-udp-unreliable' };
  const server = createServer({
    config: {
      http: { port: 0 },
      tcp: { port: 0, connectionTTL: 120 },
      udp: { port: 0, connectionTTL: 120 },
      ws: { connectionTTL: 120 },
      // PEERS_RESUME_OFF=1: seats not held, no resume token, numbering or acks (what resume costs)
      ...(process.env.PEERS_RESUME_OFF === '1' ? { resume: { ttlMs: 0 } } : {}),
    },
    env: {},
  });
  if (ws) await server.setupAsWSServer();
  else if (!udp) await server.setupAsTCPServer();
  else await server.setupAsUDPServer();
  server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, payload, Ok, sendOptions);
    next();
  });
  await server.start();
  send({
    type: 'ready',
    port: server.httpPort,
    tcpPort: udp || ws ? 0 : server.tcpPort,
  });
} else if (kind === 'tidewire-transport') {
  // Diagnostic: @tidewire/transport-tcp alone, no sessions, router or users.
  const listener = await listenTcp({ idleTimeoutMs: 120_000 }, (connection) => {
    connection.onFrame = (frame) => {
      connection.sendFrame(frame.ver, frame.cmd, Status.Ok, frame.payload);
    };
  });
  send({ type: 'ready', port: listener.port });
} else if (kind === 'bare-udp' || kind === 'bare-udp-acked') {
  // The UDP floor: a node:dgram echo answering each framed datagram with an Ok
  // frame. `bare-udp-acked` clients also send an ACK-sized datagram (first byte
  // 0xac) for each echo, which the server reads and drops: the floor of a
  // reliable protocol whose receiver acknowledges each answer by a datagram.
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  socket.on('message', (datagram, from) => {
    if (datagram[0] === 0xac) return;
    datagram[5] = Status.Ok;
    socket.send(datagram, from.port, from.address);
  });
  send({ type: 'ready', port: socket.address().port });
} else if (kind === 'bare-ws') {
  // The WebSocket floor: a bare `ws` server (the version @tidewire/transport-ws
  // uses, permessage-deflate off, as Colyseus and Tidewire run it) answering
  // each binary message, one frame, with the Ok frame carrying the same payload.
  const http = createHttpServer();
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const wss = new WebSocketServer({
    server: http,
    perMessageDeflate: false,
    clientTracking: false,
  });
  wss.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      socket.send(okReply(data, 0, HEADER_SIZE + data.readUInt32BE(6)), { binary: true });
    });
  });
  send({ type: 'ready', port: (http.address() as AddressInfo).port });
} else if (kind === 'bare') {
  const server = await startBareEchoServer();
  send({ type: 'ready', port: server.port });
} else if (kind === 'bare-client' || kind === 'bare-ws-client') {
  const ports = await startBareProtocolEcho();
  send({ type: 'ready', ...ports });
} else {
  process.stderr.write(`peers/server: unknown kind ${String(kind)}\n`);
  process.exit(2);
}

/**
 * The bare node:net echo with just enough of the protocol for
 * `@tidewire/client` to drive it, so that a Tidewire server and this baseline
 * can be compared under the same clients: how fast the clients send moves a
 * server's CPU (docs/benchmarks.md). An HTTP session step that hands out a
 * random session, the hello and keep-alive answers; every other frame is
 * echoed as by `bare`. The answers to the frames of one read leave in one
 * write (a keep-alive rides with a command), as Tidewire's do. The same over
 * WebSocket (`bare-ws-client`): a bare `ws` server on the HTTP port, the
 * answers to the frames of one message in one message.
 */
async function startBareProtocolEcho(): Promise<{ port: number; tcpPort: number }> {
  const online = pack({ userId: 'bare', state: 'ONLINE' });
  /** A framer that collects the answers to the frames it is fed into `replies`. */
  const answering = (replies: Buffer[]) =>
    handFramer((chunk, start, end) => {
      const ver = chunk[start + 2]!;
      const cmd = (chunk[start + 3]! << 8) | chunk[start + 4]!;
      if (ver === CORE_VER && cmd === CoreCommand.KeepAlive) {
        const body = pack({ serverTime: Date.now(), state: 'ONLINE' });
        replies.push(encodeFrame(CORE_VER, CoreCommand.KeepAlive, Status.Ok, body));
        return;
      }
      if (ver === CORE_VER && cmd === CoreCommand.Hello) {
        replies.push(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Ok, online));
        return;
      }
      replies.push(okReply(chunk, start, end));
    });
  const answer = (replies: Buffer[], write: (data: Buffer) => void): void => {
    if (replies.length === 1) write(replies[0]!);
    else if (replies.length > 1) write(Buffer.concat(replies));
    replies.length = 0;
  };
  const tcp = createNetServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    const replies: Buffer[] = [];
    const framer = answering(replies);
    socket.on('data', (data: Buffer) => {
      framer(data);
      answer(replies, (out) => socket.write(out));
    });
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const tcpPort = (tcp.address() as AddressInfo).port;
  const http = createHttpServer((req, res) => {
    const transport = /^\/v1\/endpoint\/(tcp|ws)\/user\//.exec(req.url ?? '')?.[1];
    if (req.method !== 'GET' || transport === undefined) {
      res.writeHead(404).end();
      return;
    }
    const httpPort = (http.address() as AddressInfo).port;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        serverType: transport,
        host: '127.0.0.1',
        port: transport === 'ws' ? httpPort : tcpPort,
        ...(transport === 'ws' ? { url: `ws://127.0.0.1:${httpPort}/v1/ws` } : {}),
        sid: randomBytes(16).toString('hex'),
        key: randomBytes(16).toString('hex'),
        expiresAt: Date.now() + 60_000,
      }),
    );
  });
  const wss = new WebSocketServer({
    server: http,
    path: '/v1/ws',
    perMessageDeflate: false,
    clientTracking: false,
  });
  wss.on('connection', (socket) => {
    socket.on('error', () => {});
    const replies: Buffer[] = [];
    const framer = answering(replies);
    socket.on('message', (data: Buffer) => {
      framer(data);
      answer(replies, (out) => socket.send(out, { binary: true }));
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return { port: (http.address() as AddressInfo).port, tcpPort };
}
