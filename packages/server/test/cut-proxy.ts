/**
 * A cutting proxy for tests of reconnect and resume: it forwards between
 * clients and a server, over TCP (WebSocket rides TCP, so it serves WS
 * too) or UDP, and on command breaks the path the way networks break:
 *
 * - `cut('close')`: every open TCP flow ends with a FIN on both sides, at once
 *   (a proxy or NAT that gives up on the connection).
 * - `cut('reset')`: every open TCP flow is reset (RST) on both sides.
 * - `cut()` on UDP: every open flow goes dead for good: its datagrams are
 *   dropped both ways, as when a phone moves from Wi-Fi to mobile data (a
 *   new client socket makes a new flow that works).
 * - `blackhole()`: nothing is forwarded until `restore()`, sockets stay open.
 *   TCP flows stop reading (bytes wait in the kernels, nothing is lost: a
 *   path that stalls and comes back); UDP datagrams are dropped. Flows that
 *   open while blackholed wait (TCP) or drop (UDP) too.
 *
 * Every socket and timer belongs to the proxy and ends with `close()`.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, Socket } from 'node:net';

export type CutKind = 'close' | 'reset';

export interface CutProxyOptions {
  /** The server to forward to. */
  target: { host: string; port: number };
  /** 'tcp' (default; WebSocket too) or 'udp'. */
  protocol?: 'tcp' | 'udp';
}

export interface CutProxyCounters {
  /** Flows opened so far (TCP connections, UDP client addresses). */
  flows: number;
  /** Bytes forwarded client to server and server to client. */
  bytesUp: number;
  bytesDown: number;
  /** Cuts made (one per `cut()` call that ended at least one flow). */
  cuts: number;
  /** UDP datagrams dropped (blackholed or dead flows). */
  dropped: number;
}

export interface CutProxy {
  readonly host: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  readonly counters: CutProxyCounters;
  /** Flows open now (UDP: alive, not cut). */
  readonly openFlows: number;
  /** True between `blackhole()` and `restore()`. */
  readonly blackholed: boolean;
  /** Ends every open flow now; returns how many it ended. */
  cut(kind?: CutKind): number;
  /** Stops forwarding, keeps sockets. */
  blackhole(): void;
  /** Forwards again after `blackhole()`. */
  restore(): void;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

/** Starts a cutting proxy on a free loopback port. */
export async function startCutProxy(options: CutProxyOptions): Promise<CutProxy> {
  return options.protocol === 'udp'
    ? UdpCutProxy.start(options.target)
    : TcpCutProxy.start(options.target);
}

interface TcpFlow {
  client: Socket;
  upstream: Socket;
}

class TcpCutProxy implements CutProxy {
  readonly host = HOST;
  readonly protocol = 'tcp' as const;
  readonly counters: CutProxyCounters = { flows: 0, bytesUp: 0, bytesDown: 0, cuts: 0, dropped: 0 };
  #blackholed = false;
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #flows = new Set<TcpFlow>();

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
    server.on('connection', (client) => this.#onConnection(client));
  }

  static async start(target: { host: string; port: number }): Promise<TcpCutProxy> {
    const server = createServer({ pauseOnConnect: true, noDelay: true });
    const proxy = new TcpCutProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  get openFlows(): number {
    return this.#flows.size;
  }

  get blackholed(): boolean {
    return this.#blackholed;
  }

  #onConnection(client: Socket): void {
    this.counters.flows++;
    const upstream = new Socket();
    const flow: TcpFlow = { client, upstream };
    this.#flows.add(flow);
    const end = (): void => {
      if (!this.#flows.delete(flow)) return;
      client.destroy();
      upstream.destroy();
    };
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    // A FIN from one side goes on to the other (half-close), as a NAT passes it.
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('data', (chunk: Buffer) => {
      this.counters.bytesUp += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => {
      this.counters.bytesDown += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => {
      if (!this.#blackholed) client.resume();
    });
    client.on('drain', () => {
      if (!this.#blackholed) upstream.resume();
    });
    upstream.connect(this.#target.port, this.#target.host, () => {
      if (!this.#blackholed) client.resume();
    });
    // Before the upstream connects nothing is read (pauseOnConnect); the
    // upstream reads as soon as it is connected unless blackholed.
    if (this.#blackholed) upstream.pause();
  }

  cut(kind: CutKind = 'close'): number {
    const flows = [...this.#flows];
    this.#flows.clear();
    for (const { client, upstream } of flows) {
      if (kind === 'reset') {
        client.resetAndDestroy();
        // An upstream still connecting cannot be reset: destroyed, the server never saw it.
        if (upstream.connecting) upstream.destroy();
        else upstream.resetAndDestroy();
      } else {
        // FIN both ways now, then forget: bytes still in flight are dropped.
        client.removeAllListeners('data');
        upstream.removeAllListeners('data');
        client.destroySoon();
        if (upstream.connecting) upstream.destroy();
        else upstream.destroySoon();
      }
    }
    if (flows.length > 0) this.counters.cuts++;
    return flows.length;
  }

  blackhole(): void {
    this.#blackholed = true;
    for (const { client, upstream } of this.#flows) {
      client.pause();
      upstream.pause();
    }
  }

  restore(): void {
    this.#blackholed = false;
    for (const { client, upstream } of this.#flows) {
      if (!upstream.connecting) client.resume();
      upstream.resume();
    }
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.#flows) {
      client.destroy();
      upstream.destroy();
    }
    this.#flows.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

interface UdpFlow {
  client: RemoteInfo;
  upstream: UdpSocket;
  dead: boolean;
}

class UdpCutProxy implements CutProxy {
  readonly host = HOST;
  readonly protocol = 'udp' as const;
  readonly counters: CutProxyCounters = { flows: 0, bytesUp: 0, bytesDown: 0, cuts: 0, dropped: 0 };
  #blackholed = false;
  readonly #socket: UdpSocket;
  readonly #target: { host: string; port: number };
  /** By client "address:port"; dead flows stay (their datagrams are dropped) until close. */
  readonly #flows = new Map<string, UdpFlow>();

  private constructor(socket: UdpSocket, target: { host: string; port: number }) {
    this.#socket = socket;
    this.#target = target;
    socket.on('message', (msg, rinfo) => this.#onClientDatagram(msg, rinfo));
  }

  static async start(target: { host: string; port: number }): Promise<UdpCutProxy> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, HOST, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpCutProxy(socket, target);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get openFlows(): number {
    let open = 0;
    for (const flow of this.#flows.values()) if (!flow.dead) open++;
    return open;
  }

  get blackholed(): boolean {
    return this.#blackholed;
  }

  #onClientDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      const upstream = createSocket('udp4');
      const created: UdpFlow = { client: rinfo, upstream, dead: false };
      flow = created;
      this.#flows.set(key, created);
      this.counters.flows++;
      upstream.on('message', (reply) => {
        if (created.dead || this.#blackholed) {
          this.counters.dropped++;
          return;
        }
        this.counters.bytesDown += reply.length;
        this.#socket.send(reply, created.client.port, created.client.address);
      });
      upstream.on('error', () => {
        created.dead = true;
      });
      upstream.bind(0, HOST);
    }
    if (flow.dead || this.#blackholed) {
      this.counters.dropped++;
      return;
    }
    this.counters.bytesUp += msg.length;
    flow.upstream.send(msg, this.#target.port, this.#target.host);
  }

  cut(): number {
    let ended = 0;
    for (const flow of this.#flows.values()) {
      if (flow.dead) continue;
      flow.dead = true;
      ended++;
    }
    if (ended > 0) this.counters.cuts++;
    return ended;
  }

  blackhole(): void {
    this.#blackholed = true;
  }

  restore(): void {
    this.#blackholed = false;
  }

  async close(): Promise<void> {
    const sockets = [this.#socket, ...[...this.#flows.values()].map((f) => f.upstream)];
    this.#flows.clear();
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            try {
              socket.close(() => resolve());
            } catch {
              resolve(); // already closed
            }
          }),
      ),
    );
  }
}
