import { performance } from 'node:perf_hooks';
import {
  Direction,
  encodeFrame,
  type Frame,
  frameFromHeader,
  HEADER_SIZE,
  isTidewireError,
  type Logger,
  MAGIC_0,
  MAGIC_1,
  MAX_PACKET_NUMBER,
  open,
  readPayloadLength,
  readU32,
  seal,
} from '@tidewire/wire';
import { closeChannel, dropChannel, retransmitChannel, spuriousLossChannel } from './channels.ts';
import { Deadline, schedule } from './deadlines.ts';
import { atEndOfTick } from './end-of-tick.ts';
import { UdpCloseCode, UdpErrorCode } from './errors.ts';
import { bodyBudget, type ConnectionTuning } from './options.ts';
import { DATA_HEADER_SIZE, FLAG_SEALED, writeDataHeader } from './packets.ts';
import {
  PACKET_HEADER_ROOM,
  RudpSession,
  resolveSessionOptions,
  type SessionHandler,
  type SessionOptions,
  type SessionStats,
} from './session.ts';

/** Why and how a connection ended; passed once to `onClose`. */
export interface CloseInfo {
  /** A `TIDEWIRE_ERR_*` or `TIDEWIRE_CLOSE_*` code, or the code the peer sent in its FIN. */
  code: string;
  reason: string;
  /** True when the peer ended the connection (FIN received). */
  remote: boolean;
  /** The error behind the close, when there is one. */
  error?: Error;
}

export interface SendOptions {
  /** Reliable ordered (default) or unreliable. */
  reliable?: boolean;
}

export interface UdpConnectionStats extends SessionStats {
  rttMs: number;
  rtoMs: number;
  bufferedBytes: number;
  inflightPackets: number;
  /** Datagrams dropped before reaching the session (bad header, failed authentication, replay). */
  rejected: number;
}

/** Package-internal: how a connection puts datagrams on the wire and tells its owner it ended. */
export interface ConnectionLink {
  /**
   * Puts one datagram on the wire. Returns true when the socket has nothing
   * queued afterwards (the datagram went to the kernel synchronously), so its
   * buffer may be reused at once.
   */
  send(datagram: Buffer, address: string, port: number): boolean;
  gone(connection: UdpConnection): void;
}

export interface ConnectionInit {
  id: number;
  role: 'client' | 'server';
  address: string;
  port: number;
  key: Buffer | null;
  tuning: ConnectionTuning;
  initialRttMs: number;
  /** The peer's `ackDelayMs`, from the handshake. */
  peerAckDelayMs: number;
  link: ConnectionLink;
  logger: Logger | undefined;
}

const NO_OPTIONS: SendOptions = {};

/**
 * Session options by tuning, encryption and the peer's ACK delay, for
 * sessions without a first RTT sample (every accepted connection of a
 * listener): one shared object, read on every packet, instead of a copy per
 * connection.
 */
const sharedSessionOptions = new WeakMap<ConnectionTuning, Map<number, SessionOptions>>();

function sessionOptions(init: ConnectionInit): SessionOptions {
  const t = init.tuning;
  const sealed = init.key !== null;
  const shared = init.initialRttMs < 0;
  const key = init.peerAckDelayMs * 2 + (sealed ? 1 : 0);
  let cached = shared ? sharedSessionOptions.get(t) : undefined;
  const found = cached?.get(key);
  if (found !== undefined) return found;
  const options = resolveSessionOptions({
    bodyBudget: bodyBudget(t.mtu, sealed),
    maxPayloadLength: t.maxPayloadLength,
    maxRetries: t.maxRetries,
    maxBufferedBytes: t.maxBufferedBytes,
    maxInflightPackets: t.maxInflightPackets,
    idleTimeoutMs: t.idleTimeoutMs,
    keepAliveMs: t.keepAliveMs,
    minRtoMs: t.minRtoMs,
    maxRtoMs: t.maxRtoMs,
    initialRttMs: init.initialRttMs,
    fragmentMemory: t.fragmentMemory,
    ackDelayMs: t.ackDelayMs,
    peerAckDelayMs: init.peerAckDelayMs,
  });
  if (shared) {
    if (cached === undefined) {
      cached = new Map();
      sharedSessionOptions.set(t, cached);
    }
    cached.set(key, options);
  }
  return options;
}

/**
 * Shared by every connection instead of closures of its own (about 0.7 KB
 * less per connection): each gets the connection it serves and calls its
 * private method. Set by UdpConnection's static block.
 */
let sessionHandler: SessionHandler<UdpConnection>;
let onDeadline: (connection: UdpConnection) => void;
let flushNow: (connection: UdpConnection) => void;
let flushSends: (connection: UdpConnection) => void;

/**
 * One reliable-UDP connection speaking wire frames, made by `listenUdp`
 * (accepted) or `dialUdp` (dialed). Reliable frames arrive exactly once and in
 * order; unreliable ones at most once, in any order.
 */
export class UdpConnection {
  /** The u32 connection id the server chose (non-zero); both directions carry it. */
  readonly id: number;
  readonly role: 'client' | 'server';
  /**
   * Called once per received frame, with the connection itself; `reliable`
   * frames in order. The payload is a view: copy it to keep it.
   */
  onFrame: ((frame: Frame, reliable: boolean, connection: UdpConnection) => void) | null = null;
  /**
   * Anything the owner keeps with the connection (its session, its user):
   * one `onFrame` function can serve every connection, reading `data` from
   * the connection it is given, instead of a closure per connection.
   */
  data: unknown = undefined;
  /** Called exactly once, when the connection has ended. */
  onClose: ((info: CloseInfo) => void) | null = null;
  /** Called when the send queue has drained after `send` returned false. */
  onDrain: (() => void) | null = null;

  readonly #session: RudpSession;
  readonly #key: Buffer | null;
  readonly #sendDirection: Direction;
  readonly #receiveDirection: Direction;
  readonly #link: ConnectionLink;
  readonly #logger: Logger | undefined;
  readonly #maxPayloadLength: number;
  readonly #maxDatagram: number;
  #address: string;
  #port: number;
  readonly #deadline: Deadline<UdpConnection> = new Deadline<UdpConnection>(onDeadline, this);
  #flushHandle: NodeJS.Immediate | null = null;
  /** A flush of frames sent outside a receive is queued for the end of the tick. */
  #sendFlushQueued = false;
  #closeInfo: CloseInfo | null = null;
  #closeError: Error | undefined;
  #closeWaiters: (() => void)[] = [];
  #rejected = 0;
  /** True while a received datagram is processed (its frames delivered). */
  #receiving = false;
  /** The application queued frames while a datagram was processed: flush right after it. */
  #sentWhileReceiving = false;
  #receiveTime = 0;

  static {
    sessionHandler = {
      transmit: (c, packetNumber, packet, length) => c.#transmit(packetNumber, packet, length),
      message: (c, data, start, end, reliable) => c.#message(data, start, end, reliable),
      closed: (c, code, reason, remote) => c.#closed(code, reason, remote),
      drain: (c) => c.onDrain?.(),
      retransmit: (c, seq, sends) => c.#retransmit(seq, sends),
      spuriousLoss: (c, lateMs, late) => c.#spuriousLoss(lateMs, late),
      drop: (c, reason) => c.#drop(reason),
    };
    onDeadline = (c) => c.#onTimer();
    flushNow = (c) => c.#flushNow();
    flushSends = (c) => c.#flushSends();
  }

  /** @internal Created by `listenUdp` and `dialUdp`. */
  constructor(init: ConnectionInit) {
    this.id = init.id;
    this.role = init.role;
    this.#address = init.address;
    this.#port = init.port;
    this.#key = init.key;
    this.#link = init.link;
    this.#logger = init.logger;
    this.#maxPayloadLength = init.tuning.maxPayloadLength;
    this.#maxDatagram = DATA_HEADER_SIZE + init.tuning.mtu;
    this.#sendDirection =
      init.role === 'client' ? Direction.ClientToServer : Direction.ServerToClient;
    this.#receiveDirection =
      init.role === 'client' ? Direction.ServerToClient : Direction.ClientToServer;
    this.#session = new RudpSession(sessionOptions(init), sessionHandler, this, performance.now());
    this.#arm();
  }

  /** The peer's current address (changes when the client's address changes). */
  /** The mtu this connection sends and accepts (a dialed one adopts the server's, from ACCEPT). */
  get mtu(): number {
    return this.#maxDatagram - DATA_HEADER_SIZE;
  }

  get remoteAddress(): string {
    return this.#address;
  }

  get remotePort(): number {
    return this.#port;
  }

  /** True once the connection has ended (after `onClose`). */
  get closed(): boolean {
    return this.#closeInfo !== null;
  }

  /** True when the connection seals its packets. */
  get encrypted(): boolean {
    return this.#key !== null;
  }

  /** Unacknowledged reliable bytes plus unsent unreliable bytes. */
  get bufferedBytes(): number {
    return this.#session.bufferedBytes;
  }

  /** Smoothed round-trip time in ms. */
  get rttMs(): number {
    return this.#session.rttMs;
  }

  /**
   * Queues one encoded wire frame. Reliable by default. A frame is kept by
   * reference (as `socket.write` keeps its buffer) until it is acknowledged
   * (reliable) or sent (unreliable): do not modify it afterwards. Returns
   * false when the frame was not queued (closing, or an unreliable frame
   * over the queue bound) or the queue passed its high-water mark: wait for
   * `onDrain`.
   * A reliable frame that would pass `maxBufferedBytes` closes the
   * connection with `TIDEWIRE_ERR_SLOW_CONSUMER`.
   */
  send(frame: Uint8Array, options: SendOptions = NO_OPTIONS): boolean {
    return this.#send(frame, options.reliable !== false);
  }

  /** Encodes and queues one frame (see `send`). */
  sendFrame(
    ver: number,
    cmd: number,
    status: number,
    payload?: Uint8Array,
    options: SendOptions = NO_OPTIONS,
  ): boolean {
    return this.#send(encodeFrame(ver, cmd, status, payload), options.reliable !== false);
  }

  /**
   * Graceful close: queued reliable frames are still delivered, then FIN with
   * `code` and `reason` is sent until acknowledged (at most 1 s in all).
   * Resolves once the connection has ended.
   */
  close(code: string = UdpCloseCode.Normal, reason = ''): Promise<void> {
    if (this.#closeInfo !== null) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    this.#session.close(code, reason, performance.now());
    this.#arm();
    return done;
  }

  /** Ends the connection at once, sending nothing. */
  destroy(error?: Error): void {
    if (this.#closeInfo !== null) return;
    const code = isTidewireError(error) ? error.code : UdpErrorCode.Destroyed;
    if (error !== undefined) this.#closeError = error;
    this.#session.terminate(code, error?.message ?? 'destroyed', false);
  }

  stats(): UdpConnectionStats {
    return {
      ...this.#session.stats,
      rttMs: this.#session.rttMs,
      rtoMs: this.#session.rtoMs,
      bufferedBytes: this.#session.bufferedBytes,
      inflightPackets: this.#session.inflightPackets,
      rejected: this.#rejected,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal A DATA datagram for this connection, from `address:port`. Returns true when it was accepted. */
  receiveDatagram(msg: Buffer, address: string, port: number): boolean {
    if (this.#closeInfo !== null) return false;
    // bounds what a peer can make us buffer: 1024 out-of-order pieces of at most one mtu
    if (msg.length > this.#maxDatagram) return this.#reject('datagram-too-long', address, port);
    const sealed = (msg[1]! & FLAG_SEALED) !== 0;
    if (sealed !== (this.#key !== null)) return this.#reject('seal-mismatch', address, port);
    const session = this.#session;
    const pn = session.expandPacketNumber(readU32(msg, 6));
    if (pn > MAX_PACKET_NUMBER || session.isReplay(pn)) {
      session.countDuplicate();
      return this.#reject('replay', address, port);
    }
    let body = msg;
    let start = DATA_HEADER_SIZE;
    if (this.#key !== null) {
      try {
        body = open(
          this.#key,
          this.#receiveDirection,
          pn,
          msg.subarray(DATA_HEADER_SIZE),
          msg.subarray(0, DATA_HEADER_SIZE),
        );
        start = 0;
      } catch {
        return this.#reject('decrypt-failed', address, port);
      }
    }
    const now = performance.now();
    this.#receiveTime = now;
    const newest = pn > session.largestReceived;
    this.#receiving = true;
    this.#sentWhileReceiving = false;
    let accepted: boolean;
    try {
      accepted = session.receive(pn, body, now, start);
    } finally {
      this.#receiving = false;
    }
    if (!accepted) {
      this.#rejected++;
      return false;
    }
    if (this.#closeInfo !== null) return true;
    // only the newest packet moves the connection: a replayed old one cannot
    if (newest && (address !== this.#address || port !== this.#port)) {
      this.#logger?.debug?.('udp connection moved', {
        id: this.id,
        from: `${this.#address}:${this.#port}`,
        to: `${address}:${port}`,
      });
      this.#address = address;
      this.#port = port;
    }
    if (this.#sentWhileReceiving) {
      // answers go out at once, with the ACK in the same packet; a bare ACK
      // waits for the end of the event-loop turn to cover every datagram read
      this.#sentWhileReceiving = false;
      session.flush(now);
    } else if (session.hasOutput) {
      this.#scheduleFlush();
    }
    this.#arm();
    return true;
  }

  /** @internal Socket errors do not end a connection (UDP has no connection to reset); they are logged. */
  reportSocketError(err: Error): void {
    this.#logger?.debug?.('udp socket error', { id: this.id, error: err.message });
  }

  /** @internal Sends a PING now (after a client moved to a new socket). */
  ping(): void {
    this.#session.ping(performance.now());
    this.#arm();
  }

  #send(frame: Uint8Array, reliable: boolean): boolean {
    const session = this.#session;
    const now = this.#receiving ? this.#receiveTime : performance.now();
    const queued = reliable ? session.sendReliable(frame, now) : session.sendUnreliable(frame, now);
    if (this.#receiving) this.#sentWhileReceiving = true;
    else if (!session.closed && !this.#sendFlushQueued) {
      this.#sendFlushQueued = true;
      atEndOfTick(flushSends, this);
    }
    return queued;
  }

  #reject(reason: string, address: string, port: number): boolean {
    this.#rejected++;
    if (dropChannel.hasSubscribers)
      dropChannel.publish({ reason, address, port, connection: this });
    return false;
  }

  #scheduleFlush(): void {
    if (this.#flushHandle === null && this.#closeInfo === null) {
      this.#flushHandle = setImmediate(flushNow, this);
    }
  }

  #flushNow(): void {
    this.#flushHandle = null;
    this.#session.flush(performance.now());
    this.#arm();
  }

  #flushSends(): void {
    this.#sendFlushQueued = false;
    if (this.#closeInfo !== null) return;
    this.#session.flush(performance.now());
    this.#arm();
  }

  /** Schedules the session's next deadline on the process-wide timer. */
  #arm(): void {
    if (this.#closeInfo !== null) return;
    schedule(this.#deadline, this.#session.nextDeadline());
  }

  #onTimer(): void {
    this.#session.onTimer(performance.now());
    this.#arm();
  }

  #transmit(packetNumber: number, packet: Buffer, length: number): boolean {
    const end = PACKET_HEADER_ROOM + length;
    if (this.#key === null) {
      // the header goes in the room before the units and the packet leaves as it is
      writeDataHeader(packet, false, this.id, packetNumber);
      const sentNow = this.#link.send(packet.subarray(0, end), this.#address, this.#port);
      return !sentNow;
    }
    const header = packet.subarray(0, DATA_HEADER_SIZE);
    writeDataHeader(header, true, this.id, packetNumber);
    const sealed = seal(
      this.#key,
      this.#sendDirection,
      packetNumber,
      packet.subarray(PACKET_HEADER_ROOM, end),
      header,
    );
    this.#link.send(Buffer.concat([header, sealed]), this.#address, this.#port);
    return false;
  }

  /**
   * One received message `data[start, end)`: one or more whole wire frames
   * back to back (docs/protocol.md 11.4). Every frame runs, in order; a
   * message that is not whole frames is dropped entirely (`bad-frame`).
   */
  #message(data: Buffer, start: number, end: number, reliable: boolean): void {
    let offset = start;
    do {
      const length = end - offset - HEADER_SIZE;
      if (
        length < 0 ||
        data[offset] !== MAGIC_0 ||
        data[offset + 1] !== MAGIC_1 ||
        readPayloadLength(data, offset) > length ||
        readPayloadLength(data, offset) > this.#maxPayloadLength
      ) {
        this.#drop('bad-frame');
        return;
      }
      offset += HEADER_SIZE + readPayloadLength(data, offset);
    } while (offset < end);
    for (offset = start; offset < end && !this.#session.closed; ) {
      const handler = this.onFrame;
      if (handler === null) return;
      const payloadEnd = offset + HEADER_SIZE + readPayloadLength(data, offset);
      const frame = frameFromHeader(data, offset, data.subarray(offset + HEADER_SIZE, payloadEnd));
      offset = payloadEnd;
      try {
        handler(frame, reliable, this);
      } catch (err) {
        this.#logger?.error?.('udp onFrame handler threw', { id: this.id, error: String(err) });
        this.#closeError = err instanceof Error ? err : new Error(String(err));
        this.#session.abort(UdpErrorCode.HandlerFailed, 'frame handler failed', performance.now());
        return;
      }
    }
  }

  #retransmit(seq: number, sends: number): void {
    if (retransmitChannel.hasSubscribers)
      retransmitChannel.publish({ connection: this, seq, sends });
  }

  #spuriousLoss(lateMs: number, late: boolean): void {
    if (spuriousLossChannel.hasSubscribers) {
      spuriousLossChannel.publish({
        connection: this,
        lateMs,
        cause: late ? 'late-ack' : 'after-gap',
      });
    }
  }

  #drop(reason: string): void {
    if (dropChannel.hasSubscribers) {
      dropChannel.publish({ reason, address: this.#address, port: this.#port, connection: this });
    }
  }

  #closed(code: string, reason: string, remote: boolean): void {
    const info: CloseInfo = { code, reason, remote };
    if (this.#closeError !== undefined) info.error = this.#closeError;
    this.#closeInfo = info;
    schedule(this.#deadline, Number.POSITIVE_INFINITY);
    if (this.#flushHandle !== null) clearImmediate(this.#flushHandle);
    this.#flushHandle = null;
    this.#logger?.debug?.('udp connection closed', { id: this.id, code, reason, remote });
    this.#link.gone(this);
    if (closeChannel.hasSubscribers)
      closeChannel.publish({ connection: this, code, reason, remote });
    try {
      this.onClose?.(info);
    } finally {
      const waiters = this.#closeWaiters;
      this.#closeWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
