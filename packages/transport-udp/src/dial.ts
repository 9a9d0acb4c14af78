import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SESSION_KEY_LENGTH } from '@tidewire/wire';
import { connectionChannel } from './channels.ts';
import { type ConnectionLink, UdpConnection } from './connection.ts';
import {
  abortReason,
  invalidArgumentError,
  RefuseReason,
  UdpErrorCode,
  udpError,
} from './errors.ts';
import {
  checkInteger,
  growSocketBuffers,
  MAX_MTU,
  MIN_MTU,
  resolveTuning,
  type UdpTuningOptions,
} from './options.ts';
import {
  answerNonce,
  dataConnectionId,
  encodeInit,
  FLAG_ENCRYPTION,
  PacketType,
  SID_LENGTH,
} from './packets.ts';

export interface UdpDialOptions extends UdpTuningOptions {
  host: string;
  port: number;
  /** The 16-byte session id from `GET /v1/endpoint/udp/user/{uid}`. */
  sid: Buffer;
  /** The 16-byte session key; required when `encryption` is on. */
  key?: Buffer | null;
  /** Ask for sealed packets. Must match the server. Default false. */
  encryption?: boolean;
  /** Socket send and receive buffer size asked of the kernel. Default 1 MiB (capped by the OS). */
  socketBufferBytes?: number;
  /** Give up the handshake after this long. Default 5000. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/** First INIT retry after this long; each next wait 1.5 times longer, at most `HANDSHAKE_RETRY_MAX_MS`. */
export const HANDSHAKE_RETRY_MS = 50;
export const HANDSHAKE_RETRY_MAX_MS = 1000;

const REFUSE_TEXT: Record<number, string> = {
  [RefuseReason.Refused]: 'the server refused the session',
  [RefuseReason.Busy]: 'the server is busy',
  [RefuseReason.EncryptionMismatch]: 'the server and the client disagree on encryption',
};

/**
 * Dials a `listenUdp` server: INIT, COOKIE, INIT_ECHO, ACCEPT (docs/protocol.md section 11
 * section 2), retrying lost handshake packets, and resolves with the
 * connection. The returned connection is a `UdpClientConnection`, which can
 * move to a new local socket (`rebind`).
 */
export function dialUdp(options: UdpDialOptions): Promise<UdpClientConnection> {
  const tuning = resolveTuning(options);
  const port = checkInteger('port', options.port, 1, 65535);
  const connectTimeoutMs = checkInteger(
    'connectTimeoutMs',
    options.connectTimeoutMs ?? 5000,
    1,
    600_000,
  );
  const encryption = options.encryption === true;
  if (!Buffer.isBuffer(options.sid) || options.sid.length !== SID_LENGTH) {
    throw invalidArgumentError(`sid must be a ${SID_LENGTH}-byte Buffer`);
  }
  const key = options.key ?? null;
  if (encryption && (key === null || key.length !== SESSION_KEY_LENGTH)) {
    throw invalidArgumentError(`encryption needs a ${SESSION_KEY_LENGTH}-byte key`);
  }
  const bufferBytes = options.socketBufferBytes ?? 1024 * 1024;
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(abortReason(signal));

  return new Promise<UdpClientConnection>((resolve, reject) => {
    const host = options.host;
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    const nonce = randomBytes(8);
    let cookie: Buffer | null = null;
    let echoSentAt = 0;
    let echoSends = 0;
    let wait = HANDSHAKE_RETRY_MS;
    let retryTimer: NodeJS.Timeout | null = null;
    let settled = false;

    const deadline = setTimeout(() => {
      fail(
        udpError(
          UdpErrorCode.HandshakeTimeout,
          `no ACCEPT from ${host}:${port} within ${connectTimeoutMs} ms`,
        ),
      );
    }, connectTimeoutMs);

    const cleanup = (): void => {
      settled = true;
      clearTimeout(deadline);
      if (retryTimer !== null) clearTimeout(retryTimer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('message', onMessage);
      socket.off('error', onError);
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      cleanup();
      socket.close();
      reject(err);
    };
    const onAbort = (): void => fail(abortReason(signal!));
    const onError = (err: Error): void => {
      // port unreachable while the server starts: keep retrying until the timeout
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
      fail(udpError(UdpErrorCode.SocketError, `UDP socket error: ${err.message}`, err));
    };

    const sendInit = (): void => {
      if (settled) return;
      if (cookie !== null) {
        echoSentAt = performance.now();
        echoSends++;
      }
      socket.send(encodeInit(nonce, options.sid, encryption, cookie, tuning.ackDelayMs));
      retryTimer = setTimeout(sendInit, wait);
      wait = Math.min(wait * 1.5, HANDSHAKE_RETRY_MAX_MS);
    };

    const onMessage = (msg: Buffer): void => {
      if (settled) return;
      const answer = answerNonce(msg);
      if (answer === null || !answer.equals(nonce)) return;
      const type = msg[0];
      if (type === PacketType.Cookie) {
        if (cookie !== null) return;
        cookie = Buffer.from(msg.subarray(12, 32));
        if (retryTimer !== null) clearTimeout(retryTimer);
        wait = HANDSHAKE_RETRY_MS;
        sendInit();
        return;
      }
      if (type === PacketType.Refuse) {
        const reason = msg[2]!;
        fail(
          udpError(
            UdpErrorCode.HandshakeRefused,
            `${REFUSE_TEXT[reason] ?? 'the server refused'} (reason ${reason})`,
          ),
        );
        return;
      }
      // ACCEPT
      if (cookie === null) return;
      const id = msg.readUInt32BE(12);
      const sealed = (msg[2]! & FLAG_ENCRYPTION) !== 0;
      if (id === 0) return;
      if (sealed !== encryption) {
        fail(
          udpError(UdpErrorCode.HandshakeRefused, REFUSE_TEXT[RefuseReason.EncryptionMismatch]!),
        );
        return;
      }
      cleanup();
      // bytes 16..17 of ACCEPT: the server's mtu, which the connection adopts
      // (0 from servers that predate it: the dial's own `mtu` stays)
      const serverMtu = msg.readUInt16BE(16);
      const connectionTuning =
        serverMtu >= MIN_MTU && serverMtu <= MAX_MTU ? { ...tuning, mtu: serverMtu } : tuning;
      const connection = new UdpClientConnection(socket, host, port, bufferBytes, {
        id,
        role: 'client',
        address: host,
        port,
        key: encryption && key !== null ? Buffer.from(key) : null,
        tuning: connectionTuning,
        // Karn: an INIT_ECHO sent more than once gives no trustworthy sample
        initialRttMs: echoSends === 1 ? Math.max(0, performance.now() - echoSentAt) : -1,
        // byte 3 of ACCEPT (0 from servers that predate it)
        peerAckDelayMs: msg[3]!,
        logger: options.logger,
      });
      if (connectionChannel.hasSubscribers)
        connectionChannel.publish({ connection, side: 'client' });
      resolve(connection);
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', onError);
    socket.on('message', onMessage);
    socket.connect(port, host, (err?: Error) => {
      if (err) {
        onError(err);
        return;
      }
      growSocketBuffers(socket, bufferBytes);
      sendInit();
    });
  });
}

type ClientInit = Omit<ConstructorParameters<typeof UdpConnection>[0], 'link'>;

/** The link of a dialed connection: its own socket, which `rebind` can replace. */
class ClientLink implements ConnectionLink {
  socket: Socket;
  connection: UdpConnection | null = null;
  closed = false;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  send(datagram: Buffer): boolean {
    if (this.closed) return true;
    // a connected socket sends without a lookup, so the send reaches libuv now
    this.socket.send(datagram);
    return this.socket.getSendQueueCount() === 0;
  }

  gone(): void {
    this.closed = true;
    this.socket.close();
  }

  attach(socket: Socket): void {
    socket.on('message', this.#onMessage);
    socket.on('error', this.#onError);
  }

  detach(socket: Socket): void {
    socket.off('message', this.#onMessage);
    socket.off('error', this.#onError);
  }

  readonly #onMessage = (msg: Buffer): void => {
    const connection = this.connection;
    if (connection === null || dataConnectionId(msg) !== connection.id) return;
    connection.receiveDatagram(msg, connection.remoteAddress, connection.remotePort);
  };

  readonly #onError = (err: Error): void => {
    // ICMP port unreachable and the like: the retransmission timers decide
    this.connection?.reportSocketError(err);
  };
}

/** A dialed connection: a `UdpConnection` with its own socket. */
export class UdpClientConnection extends UdpConnection {
  readonly #link: ClientLink;
  readonly #bufferBytes: number;
  readonly #host: string;
  readonly #serverPort: number;

  /** @internal Made by `dialUdp`. */
  constructor(
    socket: Socket,
    host: string,
    serverPort: number,
    bufferBytes: number,
    init: ClientInit,
  ) {
    const link = new ClientLink(socket);
    super({ ...init, link });
    this.#link = link;
    this.#bufferBytes = bufferBytes;
    this.#host = host;
    this.#serverPort = serverPort;
    link.connection = this;
    link.attach(socket);
  }

  /** The local port the connection sends from now. */
  get localPort(): number {
    return this.#link.socket.address().port;
  }

  /**
   * Moves the connection to a new local socket (new source port), as after a
   * mobile network change or a NAT rebinding; the server follows on the next
   * authenticated packet, and a PING is sent at once so that it does. Meant
   * for tests and for apps that see the network change.
   */
  async rebind(): Promise<void> {
    if (this.closed) return;
    const socket = createSocket({ type: isIPv6(this.#host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(this.#serverPort, this.#host, () => {
        socket.off('error', reject);
        growSocketBuffers(socket, this.#bufferBytes);
        resolve();
      });
    });
    const old = this.#link.socket;
    if (this.closed) {
      socket.close();
      return;
    }
    this.#link.detach(old);
    this.#link.socket = socket;
    this.#link.attach(socket);
    old.close();
    this.ping();
  }
}
