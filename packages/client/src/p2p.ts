import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import { reflectAddress } from '@tidewire/transport-udp';
import { parseHostPort } from '@tidewire/wire';

/** The four bytes every direct peer-to-peer datagram starts with ("TWP2"). */
const MAGIC = Buffer.from('TWP2');
const PROBE = 1;
const ACK = 2;
const DATA = 3;
const PROBE_INTERVAL_MS = 50;

/** Where a peer may be reached: the address the server saw, and its LAN address. */
export interface PeerAddresses {
  public: string;
  local: string;
}

export interface P2PChannelEvents {
  message: [data: Buffer];
  close: [];
}

/** How a channel sends: straight to the peer, or relayed by the server. */
export type P2PMode = 'direct' | 'relay';

/** This machine's first non-internal IPv4 address (loopback when there is none). */
export function localAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  return '127.0.0.1';
}

/**
 * A message channel to another user: direct over UDP when hole punching
 * worked (`mode === 'direct'`), else relayed through the server
 * (`mode === 'relay'`). Unordered and unreliable either way, like UDP: for
 * state updates, voice, positions. Direct datagrams are not encrypted or
 * authenticated; only those from the punched address are accepted.
 */
export class P2PChannel extends EventEmitter<P2PChannelEvents> {
  readonly peer: string;
  #mode: P2PMode = 'relay';
  #remote: { host: string; port: number } | null = null;
  readonly #socket: Socket;
  readonly #relay: (data: Uint8Array) => boolean;
  readonly #onClose: () => void;
  #closed = false;

  /** @internal Made by `TidewireClient.p2pConnect` and on offers. */
  constructor(
    peer: string,
    socket: Socket,
    relay: (data: Uint8Array) => boolean,
    onClose: () => void,
  ) {
    super();
    this.peer = peer;
    this.#socket = socket;
    this.#relay = relay;
    this.#onClose = onClose;
    socket.on('message', this.#onDatagram);
  }

  get mode(): P2PMode {
    return this.#mode;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `data` to the peer; false when the channel is closed (or the relay pushes back). */
  send(data: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#mode === 'direct' && this.#remote !== null) {
      this.#socket.send(
        Buffer.concat([MAGIC, Buffer.from([DATA]), data]),
        this.#remote.port,
        this.#remote.host,
      );
      return true;
    }
    return this.#relay(data);
  }

  /**
   * @internal Probes every candidate address until one answers (direct) or
   * `timeoutMs` passes (relay).
   */
  async punch(candidates: readonly string[], timeoutMs: number): Promise<P2PMode> {
    const targets = candidates
      .map(parseHostPort)
      .filter((t): t is { host: string; port: number } => t !== null);
    if (targets.length === 0) return this.#mode;
    const probe = Buffer.concat([MAGIC, Buffer.from([PROBE])]);
    const send = (): void => {
      for (const t of targets) this.#socket.send(probe, t.port, t.host);
    };
    send();
    const started = Date.now();
    while (this.#remote === null && !this.#closed && Date.now() - started < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
      if (this.#remote === null) send();
    }
    return this.#mode;
  }

  /** @internal A relayed message from the peer. */
  deliver(data: Buffer): void {
    if (!this.#closed) this.emit('message', data);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.off('message', this.#onDatagram);
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    this.#onClose();
    this.emit('close');
  }

  readonly #onDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (msg.length < 5 || !msg.subarray(0, 4).equals(MAGIC)) return;
    const from = { host: rinfo.address, port: rinfo.port };
    const type = msg[4];
    if (type === PROBE || type === ACK) {
      if (type === PROBE)
        this.#socket.send(Buffer.concat([MAGIC, Buffer.from([ACK])]), from.port, from.host);
      if (this.#remote === null) {
        this.#remote = from;
        this.#mode = 'direct';
      }
      return;
    }
    if (
      type === DATA &&
      this.#remote !== null &&
      from.host === this.#remote.host &&
      from.port === this.#remote.port
    ) {
      this.emit('message', msg.subarray(5));
    }
  };
}

/** A UDP socket for a channel and the addresses the peer should try. */
export async function openP2PSocket(
  server: { host: string; port: number },
  timeoutMs: number,
): Promise<{ socket: Socket; addresses: PeerAddresses }> {
  const socket = createSocket('udp4');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.bind(0, () => resolve()));
  try {
    const seen = await reflectAddress(socket, server.host, server.port, timeoutMs);
    const port = socket.address().port;
    return {
      socket,
      addresses: { public: `${seen.address}:${seen.port}`, local: `${localAddress()}:${port}` },
    };
  } catch (err) {
    socket.close();
    throw err;
  }
}
