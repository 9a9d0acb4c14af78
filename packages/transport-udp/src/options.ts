import { AUTH_TAG_LENGTH, DEFAULT_MAX_PAYLOAD_LENGTH, type Logger } from '@tidewire/wire';
import { invalidArgumentError } from './errors.ts';

export interface ConnectionTuning {
  mtu: number;
  maxPayloadLength: number;
  idleTimeoutMs: number;
  keepAliveMs: number;
  maxRetries: number;
  maxBufferedBytes: number;
  maxInflightPackets: number;
  minRtoMs: number;
  maxRtoMs: number;
  fragmentMemory: number;
  ackDelayMs: number;
}

/** Largest `ackDelayMs`: the handshake carries it in one byte. */
export const MAX_ACK_DELAY_MS = 250;

/** Per-connection tuning, the same for dialed and accepted connections. */
export interface UdpTuningOptions {
  /** Datagram payload budget after the 10-byte DATA header. Default 1200. */
  mtu?: number;
  /** Largest frame payload, after reassembly. Default 64 KiB. */
  maxPayloadLength?: number;
  /** A connection that received nothing valid for this long closes. Default 10 000. */
  idleTimeoutMs?: number;
  /** PING after this long without sending anything. Default idleTimeoutMs / 4. */
  keepAliveMs?: number;
  /** Retransmissions of one reliable piece before the peer is declared gone. Default 10. */
  maxRetries?: number;
  /** Send queue cap per connection. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Packets with reliable data unacknowledged at once per connection (flight window). Default 128. */
  maxInflightPackets?: number;
  /** Lower bound of the retransmission timeout. Default 10. */
  minRtoMs?: number;
  /** Upper bound of the retransmission timeout (and its backoff). Default 2000. */
  maxRtoMs?: number;
  /** Reassembly memory for unreliable fragments per connection. Default 1 MiB. */
  fragmentMemory?: number;
  /**
   * How long this side may hold the acknowledgement of a received packet,
   * waiting for something of its own to send that it can ride with, ms
   * (0..250). Default 0: acknowledgements leave at the end of the event-loop
   * turn. The value is announced in the handshake and the peer waits that
   * much longer before retransmitting. A client that sends at a steady rate
   * (inputs at 20 Hz: 60) spares the server one datagram per reliable message
   * it receives. An acknowledgement waits only when this side sent data in
   * the last `ackDelayMs` (a side that sends nothing acknowledges at once,
   * and the peer times out its packets without the delay then). The price: a
   * reliable message from the peer that is lost right after this side sent
   * data is retransmitted up to that much later when this side then sends
   * nothing more (anything it sends carries its ranges, from which the peer
   * learns of the loss at once).
   */
  ackDelayMs?: number;
  logger?: Logger;
}

export const MIN_MTU = 256;
/** The largest IPv4 UDP payload is 65507; keep room for the 10-byte header. */
export const MAX_MTU = 65_497;

export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgumentError(
      `${name} must be an integer in ${min}..${max}, got ${String(value)}`,
    );
  }
  return value;
}

export function resolveTuning(input: UdpTuningOptions): ConnectionTuning {
  const idleTimeoutMs = checkInteger(
    'idleTimeoutMs',
    input.idleTimeoutMs ?? 10_000,
    100,
    86_400_000,
  );
  const minRtoMs = checkInteger('minRtoMs', input.minRtoMs ?? 10, 1, 60_000);
  return {
    mtu: checkInteger('mtu', input.mtu ?? 1200, MIN_MTU, MAX_MTU),
    maxPayloadLength: checkInteger(
      'maxPayloadLength',
      input.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH,
      0,
      0xffff_ffff,
    ),
    idleTimeoutMs,
    keepAliveMs: checkInteger(
      'keepAliveMs',
      input.keepAliveMs ?? Math.floor(idleTimeoutMs / 4),
      10,
      idleTimeoutMs,
    ),
    maxRetries: checkInteger('maxRetries', input.maxRetries ?? 10, 1, 100),
    maxBufferedBytes: checkInteger(
      'maxBufferedBytes',
      input.maxBufferedBytes ?? 1024 * 1024,
      1024,
      2 ** 31,
    ),
    maxInflightPackets: checkInteger(
      'maxInflightPackets',
      input.maxInflightPackets ?? 128,
      1,
      100_000,
    ),
    minRtoMs,
    maxRtoMs: checkInteger('maxRtoMs', input.maxRtoMs ?? 2000, minRtoMs, 60_000),
    fragmentMemory: checkInteger(
      'fragmentMemory',
      input.fragmentMemory ?? 1024 * 1024,
      1024,
      2 ** 31,
    ),
    ackDelayMs: checkInteger('ackDelayMs', input.ackDelayMs ?? 0, 0, MAX_ACK_DELAY_MS),
  };
}

/** Bytes of units a packet may carry with this mtu and encryption setting. */
export function bodyBudget(mtu: number, encryption: boolean): number {
  return encryption ? mtu - AUTH_TAG_LENGTH : mtu;
}

/** Asks the kernel for larger socket buffers (it caps them at net.core.[rw]mem_max); best effort. */
export function growSocketBuffers(
  socket: { setRecvBufferSize(n: number): void; setSendBufferSize(n: number): void },
  bytes: number,
): void {
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
  } catch {
    // not permitted or not supported: keep the defaults
  }
}
