/**
 * Fuzz harness: hostile TCP frames, UDP datagrams and WebSocket messages at
 * a running server while well-behaved TCP, UDP and WS clients keep working.
 * Used by the test suite with small counts and by `pnpm fuzz` with at least
 * 1M of each.
 *
 * Mutations (seeded, repeatable): TCP: bit flips anywhere in a frame, random
 * truncations, length fields that lie, valid headers with garbage payloads on
 * random commands (core, built-in and application), frames before the hello,
 * hellos with random sids. UDP: random bytes, truncated and bit-flipped
 * handshake and DATA packets, valid-looking DATA headers with made-up
 * connection ids and out-of-window packet numbers. WS: the TCP mutations,
 * one frame per binary message or several in one, plus frames cut across
 * two messages, empty messages, text messages and messages over the size
 * limit, after a real hello, a hello with a random sid, or none.
 */
import { createSocket } from 'node:dgram';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect, type TidewireClient } from '@tidewire/client';
import type { WsConnection } from '@tidewire/transport-ws';
import { CORE_VER, CoreCommand, encodeFrame, Status } from '@tidewire/wire';
import WebSocket from 'ws';
import { mulberry32 } from '../../../transport-udp/test/prng.ts';
import type { TidewireServer } from '../../src/index.ts';

/** Hostile datagrams sent between two turns of the event loop (see the UDP attacker). */
const UDP_BURST = 32;

/**
 * Datagrams the kernel dropped because a UDP receive buffer was full, over
 * the whole machine (Linux: `RcvbufErrors` of /proc/net/snmp), or null where
 * that counter cannot be read.
 */
function kernelDropsAfter(before: number | null): number | null {
  const after = kernelReceiveBufferDrops();
  return before === null || after === null ? null : after - before;
}

function kernelReceiveBufferDrops(): number | null {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('Udp: '));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const value = Number(values[names.indexOf('RcvbufErrors')]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

export interface FuzzOptions {
  server: TidewireServer;
  /** Hostile TCP frames to send. */
  frames: number;
  /** Hostile UDP datagrams to send. */
  datagrams: number;
  /** Hostile WebSocket messages to send (0 or a server without WS: none). */
  messages?: number;
  seed?: number;
  /** Parallel hostile TCP connections. Default 8. */
  attackers?: number;
  /** Parallel hostile WebSocket connections. Default 8. */
  wsAttackers?: number;
}

export interface FuzzReport {
  framesSent: number;
  datagramsSent: number;
  messagesSent: number;
  /** Close codes of hostile TCP connections, by code. */
  tcpCloses: Record<string, number>;
  /** Close codes of the server's WebSocket connections (hostile and good), by code. */
  wsCloses: Record<string, number>;
  /** UDP drops by reason. */
  udpDrops: Record<string, number>;
  /**
   * Datagrams the kernel dropped during the run for want of receive-buffer
   * room (the machine's counter, so other processes' drops count too), or
   * null where it cannot be read.
   */
  kernelReceiveBufferDrops: number | null;
  /** Requests the well-behaved clients sent, and the answers they got back. */
  wellBehaved: { sent: number; answered: number; wrong: number; failed: number };
  elapsedMs: number;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { server } = options;
  const random = mulberry32(options.seed ?? 1);
  const int = (n: number): number => Math.floor(random() * n);
  const bytes = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const started = performance.now();
  const kernelDropsBefore = kernelReceiveBufferDrops();
  const endpointUrl = `http://127.0.0.1:${server.httpPort}`;
  const tcpCloses: Record<string, number> = {};
  const udpDrops: Record<string, number> = {};
  const wsCloses: Record<string, number> = {};
  // The channel also sees the good WS clients' own ends (same process): their
  // remote port is the server's.
  const onWsClose = (m: unknown): void => {
    const { code, connection } = m as { code: string; connection: WsConnection };
    if (connection.remotePort === server.wsPort) return;
    wsCloses[code] = (wsCloses[code] ?? 0) + 1;
  };
  const onTcpClose = (m: unknown): void => {
    const { code } = m as { code: string };
    tcpCloses[code] = (tcpCloses[code] ?? 0) + 1;
  };
  const onUdpDrop = (m: unknown): void => {
    const { reason } = m as { reason: string };
    udpDrops[reason] = (udpDrops[reason] ?? 0) + 1;
  };
  subscribe('tidewire:tcp:close', onTcpClose);
  subscribe('tidewire:udp:drop', onUdpDrop);
  subscribe('tidewire:ws:close', onWsClose);

  // Well-behaved clients: one request in flight each, all along.
  const good: TidewireClient[] = [];
  for (let i = 0; i < 4; i++) {
    good.push(await connect({ endpointUrl, uid: `good-tcp-${i}`, keepAliveIntervalMs: 500 }));
    if (server.isUDP()) {
      good.push(
        await connect({
          endpointUrl,
          uid: `good-udp-${i}`,
          transport: 'udp',
          keepAliveIntervalMs: 500,
        }),
      );
    }
    if (server.isWS()) {
      good.push(
        await connect({
          endpointUrl,
          uid: `good-ws-${i}`,
          transport: 'ws',
          keepAliveIntervalMs: 500,
        }),
      );
    }
  }
  const wellBehaved = { sent: 0, answered: 0, wrong: 0, failed: 0 };
  let fuzzing = true;
  const loops = good.map(async (c, i) => {
    while (fuzzing) {
      const body = Buffer.from(`good ${i} ${wellBehaved.sent}`);
      wellBehaved.sent++;
      try {
        const res = await c.request(2, 1, body, { timeoutMs: 10_000 });
        if (res.status === Status.Ok && res.payload.equals(body)) wellBehaved.answered++;
        else wellBehaved.wrong++;
      } catch {
        // A lost connection or a timeout: the attack disturbed a good client.
        wellBehaved.failed++;
        return;
      }
    }
  });

  // Hostile TCP: sessions from the endpoint, then mutated frames.
  const valid = (): Buffer => {
    const ver = [0, 1, 2, int(256)][int(4)]!;
    const cmd = [0, 1, 3, 4, 400, 900 + int(6), int(65536)][int(7)]!;
    return encodeFrame(ver, cmd, [0, 1, 4, 5, 0xff, int(256)][int(6)]!, bytes(int(64)));
  };
  const mutate = (frame: Buffer): Buffer => {
    const kind = int(6);
    if (kind === 0) {
      const copy = Buffer.from(frame); // bit flips
      for (let i = 0, n = 1 + int(4); i < n; i++) copy[int(copy.length)]! ^= 1 << int(8);
      return copy;
    }
    if (kind === 1) return frame.subarray(0, int(frame.length)); // truncation
    if (kind === 2) {
      const copy = Buffer.from(frame); // length lies
      copy.writeUInt32BE([0, 1, 0xffffffff, 70_000, int(0xffffffff)][int(5)]!, 6);
      return copy;
    }
    if (kind === 3) return bytes(1 + int(40)); // garbage
    return frame; // valid header, garbage payload
  };
  /** What a hostile connection opens with: usually a real hello, sometimes a random sid, or none. */
  const opening = (sid: string): Buffer | null => {
    const pick = int(10);
    if (pick < 7) {
      return encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(sid, 'hex'));
    }
    return pick < 9 ? encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, bytes(16)) : null;
  };
  let framesSent = 0;
  const attacker = async (): Promise<void> => {
    while (framesSent < options.frames) {
      const res = await fetch(`${endpointUrl}/v1/endpoint/tcp/user/fuzz-${int(1e9)}`);
      const session = (await res.json()) as { sid?: string; port?: number };
      if (session.sid === undefined || session.port === undefined) continue;
      const socket: Socket = netConnect({ host: '127.0.0.1', port: session.port });
      socket.on('error', () => {});
      socket.on('data', () => {});
      await once(socket, 'connect');
      const hello = opening(session.sid);
      if (hello !== null) socket.write(hello);
      const burst = 50 + int(500);
      let closed = false;
      socket.once('close', () => {
        closed = true;
      });
      for (let i = 0; i < burst && !closed && framesSent < options.frames; i++) {
        const frame = mutate(valid());
        framesSent++;
        if (!socket.write(frame))
          await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
        if (i % 64 === 0) await new Promise((r) => setImmediate(r));
      }
      socket.destroy();
    }
  };

  // Hostile UDP: datagrams at the UDP port from one socket.
  let datagramsSent = 0;
  const udpAttack = async (): Promise<void> => {
    if (!server.isUDP() || options.datagrams === 0) return;
    const socket = createSocket('udp4');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const port = server.udpPort;
    while (datagramsSent < options.datagrams) {
      const kind = int(5);
      let datagram: Buffer;
      if (kind === 0) datagram = bytes(1 + int(1400));
      else if (kind === 1)
        datagram = bytes(1 + int(12)); // truncated headers
      else {
        // Plausible headers: a type byte, a made-up connection id, a packet number far away.
        datagram = Buffer.alloc(10 + int(200));
        datagram[0] = int(8);
        datagram.writeUInt32BE(int(0xffffffff), 1);
        datagram.writeUInt32BE(int(0xffffffff), 5);
        bytes(datagram.length - 10).copy(datagram, 10);
        if (kind === 4) datagram[int(datagram.length)]! ^= 0xff;
      }
      datagramsSent++;
      await new Promise<void>((resolve) =>
        socket.send(datagram, port, '127.0.0.1', () => resolve()),
      );
      // The attacker shares the process with the server: let everything else
      // run. libuv reads at most 32 datagrams from a socket per loop turn; a
      // faster flood only fills the server's kernel receive buffer, whose
      // drops (of good clients' datagrams too) no server code can prevent.
      if (datagramsSent % UDP_BURST === 0) await new Promise((r) => setImmediate(r));
    }
    socket.close();
  };

  // Hostile WS: sessions from the endpoint, then mutated frames in binary
  // messages, and messages the transport refuses by their kind or size.
  const messages = server.isWS() ? (options.messages ?? 0) : 0;
  const maxMessageBytes = server.config.ws.maxRcvSize + 10;
  const hostileMessage = (kind: number): Buffer | string => {
    if (kind === 0) return bytes(int(32)).toString('latin1'); // text
    if (kind === 1) return Buffer.alloc(maxMessageBytes + 1 + int(1000)); // over the limit
    if (kind === 2) return Buffer.alloc(0);
    if (kind < 8) {
      // Several frames in one message, the last one possibly mutated.
      const frames = Array.from({ length: 2 + int(4) }, () => valid());
      frames.push(mutate(valid()));
      return Buffer.concat(frames);
    }
    return mutate(valid());
  };
  let messagesSent = 0;
  const wsAttacker = async (): Promise<void> => {
    while (messagesSent < messages) {
      const res = await fetch(`${endpointUrl}/v1/endpoint/ws/user/fuzz-${int(1e9)}`);
      const session = (await res.json()) as { sid?: string; url?: string };
      if (session.sid === undefined || session.url === undefined) continue;
      const socket = new WebSocket(session.url, { perMessageDeflate: false });
      let closed = false;
      const gone = new Promise<void>((resolve) =>
        socket.once('close', () => {
          closed = true;
          resolve();
        }),
      );
      socket.on('error', () => {});
      await Promise.race([new Promise((resolve) => socket.once('open', resolve)), gone]);
      if (closed) continue;
      const hello = opening(session.sid);
      if (hello !== null) socket.send(hello);
      const burst = 50 + int(500);
      // A connection in five opens with a text or an oversized message: they
      // end it at once, so later in a burst they would rarely be reached.
      const lead = int(10);
      for (let i = 0; i < burst && !closed && messagesSent < messages; i++) {
        const message = hostileMessage(i === 0 && lead < 2 ? lead : int(40));
        messagesSent++;
        if (int(30) === 0 && typeof message !== 'string' && message.length > 1) {
          // One frame cut across two messages: each part is refused alone.
          const cut = 1 + int(message.length - 1);
          socket.send(message.subarray(0, cut));
          socket.send(message.subarray(cut));
        } else {
          socket.send(message);
        }
        // Let the socket write (and the server read) what is queued.
        if (i % 64 === 0 || socket.bufferedAmount > 1 << 20) {
          await new Promise((r) => setImmediate(r));
        }
      }
      socket.terminate();
      await gone;
    }
  };

  const attackers = Array.from({ length: options.attackers ?? 8 }, () => attacker());
  const wsAttackers = Array.from({ length: messages > 0 ? (options.wsAttackers ?? 8) : 0 }, () =>
    wsAttacker(),
  );
  await Promise.all([...attackers, ...wsAttackers, udpAttack()]);
  fuzzing = false;
  await Promise.all(loops);
  await Promise.all(good.map((c) => c.close()));
  unsubscribe('tidewire:tcp:close', onTcpClose);
  unsubscribe('tidewire:udp:drop', onUdpDrop);
  unsubscribe('tidewire:ws:close', onWsClose);
  return {
    framesSent,
    datagramsSent,
    messagesSent,
    tcpCloses,
    wsCloses,
    udpDrops,
    kernelReceiveBufferDrops: kernelDropsAfter(kernelDropsBefore),
    wellBehaved,
    elapsedMs: Math.round(performance.now() - started),
  };
}
