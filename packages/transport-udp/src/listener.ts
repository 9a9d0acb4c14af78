import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Logger, SESSION_KEY_LENGTH } from '@tidewire/wire';
import { connectionChannel, dropChannel } from './channels.ts';
import { type ConnectionLink, UdpConnection } from './connection.ts';
import { CookieJar } from './cookie.ts';
import { RefuseReason, UdpErrorCode, udpError } from './errors.ts';
import {
  type ConnectionTuning,
  checkInteger,
  growSocketBuffers,
  resolveTuning,
  type UdpTuningOptions,
} from './options.ts';
import {
  dataConnectionId,
  decodeInit,
  encodeAccept,
  encodeCookie,
  encodeRefuse,
  type InitPacket,
  PacketType,
} from './packets.ts';
import { decodeReflect, encodeReflected, REFLECT } from './reflect.ts';

export interface UdpRemote {
  address: string;
  port: number;
}

export type AuthenticateResult = { key: Buffer | null } | null;

export interface UdpListenerOptions extends UdpTuningOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Socket send and receive buffer size asked of the kernel. Default 4 MiB (capped by the OS). */
  socketBufferBytes?: number;
  /** Seal every DATA packet with AES-128-GCM under the key `authenticate` returns. Default false. */
  encryption?: boolean;
  /**
   * Called on a valid cookie-echoed INIT: return the session key (16 bytes,
   * required when encryption is on; may be null when off) to accept, or null
   * to refuse.
   */
  authenticate: (
    sid: Buffer,
    remote: UdpRemote,
  ) => Promise<AuthenticateResult> | AuthenticateResult;
  /** Handshakes waiting on `authenticate` at once; past it INIT_ECHO gets REFUSE 2. Default 1024. */
  maxHalfOpen?: number;
  /** Open connections at once; past it INIT_ECHO gets REFUSE 2. Default 100 000. */
  maxConnections?: number;
  /**
   * Handshake datagrams (INIT and INIT_ECHO) processed per second, over all
   * sources: past it they are dropped unanswered, which bounds the CPU a
   * flood can take (each costs an HMAC). Default 20 000.
   */
  handshakeRateLimit?: number;
  /**
   * Handshake packets per second accepted from one source address (all its
   * ports), so one host cannot use up the global budget. Default 200 (users
   * behind one carrier NAT share an address). Bounded memory: at most 65 536
   * addresses are tracked, the oldest forgotten first.
   */
  handshakeRateLimitPerSource?: number;
  /** Apply `handshakeRateLimitPerSource` to loopback sources too (they are exempt by default: this machine's own tools). */
  limitLoopbackHandshakes?: boolean;
  signal?: AbortSignal;
}

export interface UdpListenerCloseOptions {
  /** How long connections get to deliver their FIN before they are destroyed. Default 1000. */
  graceMs?: number;
}

export interface UdpListener {
  readonly host: string;
  readonly port: number;
  readonly connections: ReadonlySet<UdpConnection>;
  close(options?: UdpListenerCloseOptions): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Binds a UDP socket and accepts RUDP connections on it (docs/protocol.md section 11). */
export async function listenUdp(
  options: UdpListenerOptions,
  onConnection: (connection: UdpConnection) => void,
): Promise<UdpListener> {
  if (typeof options.authenticate !== 'function') {
    throw udpError('TIDEWIRE_ERR_INVALID_ARGUMENT', 'listenUdp needs an authenticate function');
  }
  const tuning = resolveTuning(options);
  const host = options.host ?? '127.0.0.1';
  const port = checkInteger('port', options.port ?? 0, 0, 65535);
  const maxHalfOpen = checkInteger('maxHalfOpen', options.maxHalfOpen ?? 1024, 1, 1_000_000);
  const maxConnections = checkInteger(
    'maxConnections',
    options.maxConnections ?? 100_000,
    1,
    10_000_000,
  );
  options.signal?.throwIfAborted();
  const family = isIPv6(host) ? 6 : 4;
  const bindAddress = await resolveBindAddress(host, family, port);
  const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: echoLiteral });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(
        udpError(UdpErrorCode.ListenFailed, `cannot bind UDP ${host}:${port}: ${err.message}`, err),
      );
    };
    socket.once('error', onError);
    socket.bind(port, bindAddress, () => {
      socket.off('error', onError);
      growSocketBuffers(socket, options.socketBufferBytes ?? 4 * 1024 * 1024);
      resolve();
    });
  });
  const rate = checkInteger(
    'handshakeRateLimit',
    options.handshakeRateLimit ?? 20_000,
    1,
    10_000_000,
  );
  const perSource = checkInteger(
    'handshakeRateLimitPerSource',
    options.handshakeRateLimitPerSource ?? 200,
    1,
    10_000_000,
  );
  const listener = new Listener(
    socket,
    options,
    tuning,
    maxHalfOpen,
    maxConnections,
    new TokenBucket(rate),
    new SourceBuckets(perSource, options.limitLoopbackHandshakes === true),
    onConnection,
  );
  return listener;
}

class Listener implements UdpListener, ConnectionLink {
  readonly host: string;
  readonly port: number;
  readonly #socket: Socket;
  readonly #options: UdpListenerOptions;
  readonly #tuning: ConnectionTuning;
  readonly #maxHalfOpen: number;
  readonly #maxConnections: number;
  readonly #handshakes: TokenBucket;
  readonly #sources: SourceBuckets;
  readonly #onConnection: (connection: UdpConnection) => void;
  readonly #logger: Logger | undefined;
  readonly #encryption: boolean;
  readonly #cookies = new CookieJar();
  /**
   * Connections by the low 30 bits of their id (see `idKey`); ids are chosen
   * so that no two connections share a key, and a datagram must match the
   * whole id.
   */
  readonly #byId = new Map<number, UdpConnection>();
  /** `nonce|address|port` of accepted connections, to answer a repeated INIT_ECHO with the same ACCEPT. */
  readonly #byNonce = new Map<string, UdpConnection>();
  readonly #nonceOf = new Map<UdpConnection, string>();
  readonly #halfOpen = new Set<string>();
  readonly #connections = new Set<UdpConnection>();
  #closing: Promise<void> | null = null;
  #socketClosed = false;
  readonly #onAbort: () => void;

  constructor(
    socket: Socket,
    options: UdpListenerOptions,
    tuning: ConnectionTuning,
    maxHalfOpen: number,
    maxConnections: number,
    handshakes: TokenBucket,
    sources: SourceBuckets,
    onConnection: (connection: UdpConnection) => void,
  ) {
    this.#socket = socket;
    this.#options = options;
    this.#tuning = tuning;
    this.#maxHalfOpen = maxHalfOpen;
    this.#maxConnections = maxConnections;
    this.#handshakes = handshakes;
    this.#sources = sources;
    this.#onConnection = onConnection;
    this.#logger = options.logger;
    this.#encryption = options.encryption === true;
    const address = socket.address();
    this.host = address.address;
    this.port = address.port;
    socket.on('message', this.#onMessage);
    socket.on('error', (err) => {
      // UDP sockets report ICMP errors on some platforms; they never end the listener
      this.#logger?.warn?.('udp listener socket error', { error: err.message });
    });
    this.#onAbort = () => {
      void this.close();
    };
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get connections(): ReadonlySet<UdpConnection> {
    return this.#connections;
  }

  close(options: UdpListenerCloseOptions = {}): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close(options.graceMs ?? 1000);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(graceMs: number): Promise<void> {
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    const closes = [...this.#connections].map((c) =>
      c.close(UdpErrorCode.ServerClosing, 'the server is closing'),
    );
    if (closes.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(closes),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      for (const c of [...this.#connections]) {
        c.destroy(udpError(UdpErrorCode.ServerClosing, 'the server closed'));
      }
    }
    this.#socketClosed = true;
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  send(datagram: Buffer, address: string, port: number): boolean {
    if (this.#socketClosed) return true;
    // echoLiteral answers synchronously, so the send reaches libuv now
    this.#socket.send(datagram, port, address);
    return this.#socket.getSendQueueCount() === 0;
  }

  gone(connection: UdpConnection): void {
    this.#byId.delete(idKey(connection.id));
    this.#connections.delete(connection);
    const nonce = this.#nonceOf.get(connection);
    if (nonce !== undefined) {
      this.#byNonce.delete(nonce);
      this.#nonceOf.delete(connection);
    }
  }

  readonly #onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const type = msg[0];
    if (type === PacketType.Data) {
      const id = dataConnectionId(msg);
      const connection = this.#byId.get(idKey(id));
      if (connection === undefined || connection.id !== id) {
        this.#drop('unknown-connection', rinfo);
        return;
      }
      connection.receiveDatagram(msg, rinfo.address, rinfo.port);
      return;
    }
    if (type === PacketType.Init || type === PacketType.InitEcho) {
      const init = decodeInit(msg);
      if (init === null) {
        this.#drop('malformed-init', rinfo);
        return;
      }
      if (this.#closing !== null) return;
      const now = performance.now();
      if (!this.#sources.take(rinfo.address, now)) {
        this.#drop('handshake-rate-source', rinfo);
        return;
      }
      if (!this.#handshakes.take(now)) {
        this.#drop('handshake-rate', rinfo);
        return;
      }
      if (!init.echo) {
        // stateless: the answer (32 bytes) is smaller than the request (96)
        const cookie = this.#cookies.make(rinfo.address, rinfo.port, init.sid, init.clientNonce);
        this.#reply(encodeCookie(init.clientNonce, cookie), rinfo);
        return;
      }
      this.#onInitEcho(init, rinfo);
      return;
    }
    if (type === REFLECT) {
      const nonce = decodeReflect(msg);
      if (nonce === null) {
        this.#drop('malformed-reflect', rinfo);
        return;
      }
      // Stateless and smaller than the request; rate limited like handshakes.
      const now = performance.now();
      if (!this.#sources.take(rinfo.address, now) || !this.#handshakes.take(now)) {
        this.#drop('handshake-rate', rinfo);
        return;
      }
      this.#reply(encodeReflected(nonce, rinfo.address, rinfo.port), rinfo);
      return;
    }
    this.#drop('unknown-type', rinfo);
  };

  #onInitEcho(init: InitPacket, rinfo: RemoteInfo): void {
    const { address, port } = rinfo;
    if (!this.#cookies.verify(init.cookie, address, port, init.sid, init.clientNonce)) {
      this.#drop('bad-cookie', rinfo);
      return;
    }
    const nonceKey = `${init.clientNonce.toString('hex')}|${address}|${port}`;
    const existing = this.#byNonce.get(nonceKey);
    if (existing !== undefined) {
      this.#reply(
        encodeAccept(
          init.clientNonce,
          existing.id,
          existing.encrypted,
          this.#tuning.ackDelayMs,
          this.#tuning.mtu,
        ),
        rinfo,
      );
      return;
    }
    if (this.#halfOpen.has(nonceKey)) return;
    if (init.encryption !== this.#encryption) {
      this.#reply(encodeRefuse(init.clientNonce, RefuseReason.EncryptionMismatch), rinfo);
      return;
    }
    if (
      this.#halfOpen.size >= this.#maxHalfOpen ||
      this.#connections.size >= this.#maxConnections
    ) {
      this.#reply(encodeRefuse(init.clientNonce, RefuseReason.Busy), rinfo);
      return;
    }
    this.#halfOpen.add(nonceKey);
    const sid = Buffer.from(init.sid);
    const nonce = Buffer.from(init.clientNonce);
    void this.#authenticate(sid, nonce, nonceKey, rinfo, init.ackDelayMs);
  }

  async #authenticate(
    sid: Buffer,
    nonce: Buffer,
    nonceKey: string,
    rinfo: RemoteInfo,
    peerAckDelayMs: number,
  ): Promise<void> {
    const remote = { address: rinfo.address, port: rinfo.port };
    let result: AuthenticateResult = null;
    try {
      result = await this.#options.authenticate(sid, remote);
    } catch (err) {
      this.#logger?.warn?.('udp authenticate threw; refusing', { error: String(err), ...remote });
      result = null;
    } finally {
      this.#halfOpen.delete(nonceKey);
    }
    if (this.#closing !== null) return;
    let key: Buffer | null = null;
    if (result !== null && this.#encryption) {
      key = result.key;
      if (key === null || key.length !== SESSION_KEY_LENGTH) {
        this.#logger?.warn?.(
          'udp authenticate returned no 16-byte key with encryption on; refusing',
          remote,
        );
        result = null;
      }
    }
    if (result === null) {
      this.#reply(encodeRefuse(nonce, RefuseReason.Refused), rinfo);
      return;
    }
    let id = 0;
    do id = randomBytes(4).readUInt32BE(0);
    while (id === 0 || this.#byId.has(idKey(id)));
    const connection = new UdpConnection({
      id,
      role: 'server',
      address: rinfo.address,
      port: rinfo.port,
      key: key === null ? null : Buffer.from(key),
      tuning: this.#tuning,
      initialRttMs: -1,
      peerAckDelayMs,
      link: this,
      logger: this.#logger,
    });
    this.#byId.set(idKey(id), connection);
    this.#byNonce.set(nonceKey, connection);
    this.#nonceOf.set(connection, nonceKey);
    this.#connections.add(connection);
    this.#reply(
      encodeAccept(nonce, id, key !== null, this.#tuning.ackDelayMs, this.#tuning.mtu),
      rinfo,
    );
    this.#logger?.debug?.('udp connection accepted', { id, ...remote });
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ connection, side: 'server' });
    try {
      this.#onConnection(connection);
    } catch (err) {
      this.#logger?.error?.('udp onConnection threw', { error: String(err) });
      connection.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #reply(datagram: Buffer, rinfo: RemoteInfo): void {
    if (!this.#socketClosed) this.#socket.send(datagram, rinfo.port, rinfo.address);
  }

  #drop(reason: string, rinfo: RemoteInfo): void {
    if (dropChannel.hasSubscribers)
      dropChannel.publish({ reason, address: rinfo.address, port: rinfo.port });
  }
}

/** `host` as an IP literal of `family` (a name is resolved once, here). */
async function resolveBindAddress(host: string, family: 4 | 6, port: number): Promise<string> {
  if (isIP(host) !== 0) return host;
  try {
    return (await dnsLookup(host, { family })).address;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw udpError(UdpErrorCode.ListenFailed, `cannot bind UDP ${host}:${port}: ${message}`, err);
  }
}

/**
 * The listener's socket only meets IP literals: it binds to a resolved
 * address and sends to the addresses datagrams came from. Its lookup answers
 * with the address itself, at once: node's default goes through dns.lookup's
 * next-tick round and an isIP regular expression, a measurable share of a
 * small-packet send.
 */
function echoLiteral(
  address: string,
  family: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, address, family === 6 ? 6 : 4);
}

/** One token bucket per source address, at most `MAX_SOURCES` of them (oldest first out). */
class SourceBuckets {
  static readonly MAX_SOURCES = 65_536;
  readonly #rate: number;
  readonly #limitLoopback: boolean;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(rate: number, limitLoopback: boolean) {
    this.#rate = rate;
    this.#limitLoopback = limitLoopback;
  }

  take(address: string, now: number): boolean {
    // Loopback is this machine (tests, load testers, a local proxy): only the global limit applies.
    const loopback =
      address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
    if (loopback && !this.#limitLoopback) return true;
    let bucket = this.#buckets.get(address);
    if (bucket === undefined) {
      if (this.#buckets.size >= SourceBuckets.MAX_SOURCES) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      bucket = new TokenBucket(this.#rate);
      this.#buckets.set(address, bucket);
    }
    return bucket.take(now);
  }
}

/** Tokens refilled continuously at `rate` per second, up to `rate`; no timer. */
class TokenBucket {
  readonly #rate: number;
  #tokens: number;
  #at = 0;

  constructor(rate: number) {
    this.#rate = rate;
    this.#tokens = rate;
  }

  take(now: number): boolean {
    if (this.#at === 0) this.#at = now;
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * The key of a 32-bit connection id in the listener's map: its low 30 bits,
 * a small integer V8 hashes and compares directly (most whole 32-bit ids are
 * heap numbers, slower to hash and compare, and one was made per datagram).
 */
function idKey(id: number): number {
  return id & 0x3fff_ffff;
}
