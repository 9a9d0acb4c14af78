/**
 * Datagram layouts (docs/protocol.md sections 11.1-11.3). Every function here is pure:
 * it reads or writes bytes and never throws on hostile input (decoders return
 * null for anything malformed).
 */

import { readU32, writeU32 } from '@tidewire/wire';

export const PacketType = {
  Init: 0x01,
  Cookie: 0x02,
  InitEcho: 0x03,
  Accept: 0x04,
  Refuse: 0x05,
  Data: 0x10,
} as const;

export const PROTOCOL_VERSION = 1;
export const INIT_SIZE = 96;
export const COOKIE_PACKET_SIZE = 32;
export const ACCEPT_SIZE = 20;
export const REFUSE_SIZE = 12;
export const DATA_HEADER_SIZE = 10;
export const SID_LENGTH = 16;
export const NONCE_LENGTH = 8;
export const COOKIE_LENGTH = 20;
/** DATA flags bit 0: the body is sealed. */
export const FLAG_SEALED = 0x01;
/** INIT / ACCEPT flags bit 0: encryption. */
export const FLAG_ENCRYPTION = 0x01;

export interface InitPacket {
  echo: boolean;
  encryption: boolean;
  clientNonce: Buffer;
  sid: Buffer;
  cookie: Buffer;
  /** The client's `ackDelayMs` (byte 3; 0 from peers that predate it). */
  ackDelayMs: number;
}

/** INIT (no cookie) or INIT_ECHO (with the cookie), always 96 bytes. */
export function encodeInit(
  clientNonce: Uint8Array,
  sid: Uint8Array,
  encryption: boolean,
  cookie: Uint8Array | null,
  ackDelayMs = 0,
): Buffer {
  const out = Buffer.alloc(INIT_SIZE);
  out[0] = cookie === null ? PacketType.Init : PacketType.InitEcho;
  out[1] = PROTOCOL_VERSION;
  out[2] = encryption ? FLAG_ENCRYPTION : 0;
  out[3] = ackDelayMs;
  out.set(clientNonce, 4);
  out.set(sid, 12);
  if (cookie !== null) out.set(cookie, 28);
  return out;
}

export function decodeInit(msg: Buffer): InitPacket | null {
  if (msg.length !== INIT_SIZE || msg[1] !== PROTOCOL_VERSION) return null;
  const type = msg[0];
  if (type !== PacketType.Init && type !== PacketType.InitEcho) return null;
  return {
    echo: type === PacketType.InitEcho,
    encryption: (msg[2]! & FLAG_ENCRYPTION) !== 0,
    clientNonce: msg.subarray(4, 12),
    sid: msg.subarray(12, 28),
    cookie: msg.subarray(28, 48),
    ackDelayMs: msg[3]!,
  };
}

export function encodeCookie(clientNonce: Uint8Array, cookie: Uint8Array): Buffer {
  const out = Buffer.alloc(COOKIE_PACKET_SIZE);
  out[0] = PacketType.Cookie;
  out[1] = PROTOCOL_VERSION;
  out.set(clientNonce, 4);
  out.set(cookie, 12);
  return out;
}

export function encodeAccept(
  clientNonce: Uint8Array,
  connectionId: number,
  encryption: boolean,
  ackDelayMs = 0,
  mtu = 0,
): Buffer {
  const out = Buffer.alloc(ACCEPT_SIZE);
  out[0] = PacketType.Accept;
  out[1] = PROTOCOL_VERSION;
  out[2] = encryption ? FLAG_ENCRYPTION : 0;
  out[3] = ackDelayMs;
  out.set(clientNonce, 4);
  out.writeUInt32BE(connectionId, 12);
  // bytes 16..17: the server's mtu (0 from servers that predate it); 18..19 reserved
  out.writeUInt16BE(mtu, 16);
  return out;
}

export function encodeRefuse(clientNonce: Uint8Array, reason: number): Buffer {
  const out = Buffer.alloc(REFUSE_SIZE);
  out[0] = PacketType.Refuse;
  out[1] = PROTOCOL_VERSION;
  out[2] = reason;
  out.set(clientNonce, 4);
  return out;
}

/** The client nonce a handshake answer carries, or null when `msg` is no valid COOKIE/ACCEPT/REFUSE. */
export function answerNonce(msg: Buffer): Buffer | null {
  if (msg.length < REFUSE_SIZE || msg[1] !== PROTOCOL_VERSION) return null;
  const type = msg[0];
  if (
    (type === PacketType.Cookie && msg.length === COOKIE_PACKET_SIZE) ||
    (type === PacketType.Accept && msg.length === ACCEPT_SIZE) ||
    (type === PacketType.Refuse && msg.length === REFUSE_SIZE)
  ) {
    return msg.subarray(4, 12);
  }
  return null;
}

export function writeDataHeader(
  target: Buffer,
  sealed: boolean,
  connectionId: number,
  packetNumber: number,
): void {
  target[0] = PacketType.Data;
  target[1] = sealed ? FLAG_SEALED : 0;
  writeU32(target, 2, connectionId);
  writeU32(target, 6, packetNumber % 0x1_0000_0000);
}

/** Connection id of a DATA datagram, or -1 when `msg` is not one. */
export function dataConnectionId(msg: Buffer): number {
  if (msg.length < DATA_HEADER_SIZE || msg[0] !== PacketType.Data) return -1;
  return readU32(msg, 2);
}
