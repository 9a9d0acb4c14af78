/**
 * A userspace lossy UDP proxy for tests and benchmarks (kernel netem is not
 * available here). Clients send to the proxy; each client address gets its
 * own upstream socket towards the server, as a NAT would. Each direction
 * drops, duplicates, delays (with jitter) and reorders datagrams from a
 * seeded PRNG, so runs repeat.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mulberry32 } from './prng.ts';

export interface DirectionConditions {
  /** Probability a datagram is dropped. */
  loss?: number;
  /** Probability a datagram is delivered twice. */
  duplicate?: number;
  /** Base one-way delay in ms. */
  delayMs?: number;
  /** Extra uniform random delay in [0, jitterMs]. */
  jitterMs?: number;
  /** Probability a datagram is held back an extra `reorderMs` (overtaken by later ones). */
  reorder?: number;
  reorderMs?: number;
}

export interface LossyProxyOptions {
  target: { host: string; port: number };
  seed?: number;
  /** Client to server. */
  up?: DirectionConditions;
  /** Server to client. */
  down?: DirectionConditions;
}

interface Flow {
  client: RemoteInfo;
  upstream: Socket;
}

export interface ProxyCounters {
  forwarded: number;
  dropped: number;
  duplicated: number;
}

export class LossyProxy {
  readonly port: number;
  readonly host = '127.0.0.1';
  up: DirectionConditions;
  down: DirectionConditions;
  /** Drop everything in both directions while true. */
  blackhole = false;
  readonly counters: ProxyCounters = { forwarded: 0, dropped: 0, duplicated: 0 };
  /** Optional tap on every datagram the proxy receives. */
  onDatagram: ((msg: Buffer, direction: 'up' | 'down') => void) | null = null;
  readonly #socket: Socket;
  readonly #target: { host: string; port: number };
  readonly #random: () => number;
  readonly #flows = new Map<string, Flow>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  private constructor(socket: Socket, options: LossyProxyOptions) {
    this.#socket = socket;
    this.#target = options.target;
    this.#random = mulberry32(options.seed ?? 1);
    this.up = options.up ?? {};
    this.down = options.down ?? {};
    this.port = socket.address().port;
    socket.on('message', (msg, rinfo) => this.#fromClient(msg, rinfo));
  }

  static async start(options: LossyProxyOptions): Promise<LossyProxy> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    grow(socket);
    return new LossyProxy(socket, options);
  }

  #fromClient(msg: Buffer, client: RemoteInfo): void {
    const key = `${client.address}:${client.port}`;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      const upstream = createSocket('udp4');
      upstream.bind(0, '127.0.0.1', () => grow(upstream));
      upstream.on('message', (reply) => {
        this.onDatagram?.(reply, 'down');
        this.#forward(this.down, () => this.#socket.send(reply, client.port, client.address));
      });
      upstream.on('error', () => {});
      flow = { client, upstream };
      this.#flows.set(key, flow);
    }
    this.onDatagram?.(msg, 'up');
    const upstream = flow.upstream;
    this.#forward(this.up, () => upstream.send(msg, this.#target.port, this.#target.host));
  }

  #forward(conditions: DirectionConditions, deliver: () => void): void {
    if (this.#closed) return;
    const random = this.#random;
    if (this.blackhole || random() < (conditions.loss ?? 0)) {
      this.counters.dropped++;
      return;
    }
    const copies = random() < (conditions.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let i = 0; i < copies; i++) {
      let delay = (conditions.delayMs ?? 0) + random() * (conditions.jitterMs ?? 0);
      if (random() < (conditions.reorder ?? 0)) delay += conditions.reorderMs ?? 10;
      this.counters.forwarded++;
      if (delay <= 0) {
        deliver();
        continue;
      }
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (!this.#closed) deliver();
      }, delay);
      this.#timers.add(timer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const sockets = [this.#socket, ...[...this.#flows.values()].map((f) => f.upstream)];
    this.#flows.clear();
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function grow(socket: Socket): void {
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
    socket.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // keep the defaults
  }
}
