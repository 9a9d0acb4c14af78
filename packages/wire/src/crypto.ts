import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { invalidArgument, TidewireError, WireErrorCode } from './errors.ts';

/** AES-128 key length in bytes. */
export const SESSION_KEY_LENGTH = 16;
/** GCM nonce length in bytes. */
export const NONCE_LENGTH = 12;
/** GCM authentication tag length in bytes, appended to every sealed message. */
export const AUTH_TAG_LENGTH = 16;
/** Packet numbers are unsigned integers below 2^48 (they never wrap within a session). */
export const MAX_PACKET_NUMBER: number = 2 ** 48 - 1;

/**
 * Who sealed a message. Each direction has its own nonce space, so client and
 * server can both count from 0 under one session key without reusing a nonce.
 */
export const Direction = {
  ClientToServer: 0,
  ServerToClient: 1,
} as const;

export type Direction = (typeof Direction)[keyof typeof Direction];

/** A fresh random 16-byte session key. */
export function createSessionKey(): Buffer {
  return randomBytes(SESSION_KEY_LENGTH);
}

/**
 * The 12-byte nonce: 4 bytes of direction (u32 BE, 0 or 1) then the packet
 * number as u64 BE. Unique per (key, direction, packet number).
 */
export function sessionNonce(direction: Direction, packetNumber: number): Buffer {
  assertPacketNumber(packetNumber);
  if (direction !== Direction.ClientToServer && direction !== Direction.ServerToClient) {
    throw invalidArgument(`direction must be 0 or 1, got ${String(direction)}`);
  }
  const nonce = Buffer.alloc(NONCE_LENGTH);
  nonce.writeUInt32BE(direction, 0);
  nonce.writeUIntBE(packetNumber, 6, 6);
  return nonce;
}

/** AES-128-GCM with an explicit nonce: returns ciphertext followed by the 16-byte tag. */
export function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  assertKey(key);
  const cipher = createCipheriv('aes-128-gcm', key, nonce, { authTagLength: AUTH_TAG_LENGTH });
  if (aad !== undefined) cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([head, tail, cipher.getAuthTag()]);
}

/** Opens what `aesGcmSeal` sealed; throws `TIDEWIRE_ERR_DECRYPT_FAILED` on any mismatch. */
export function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  assertKey(key);
  if (sealed.length < AUTH_TAG_LENGTH) {
    throw new TidewireError(
      WireErrorCode.DecryptFailed,
      `sealed message of ${sealed.length} bytes is shorter than the authentication tag`,
    );
  }
  const tagStart = sealed.length - AUTH_TAG_LENGTH;
  try {
    const decipher = createDecipheriv('aes-128-gcm', key, nonce, {
      authTagLength: AUTH_TAG_LENGTH,
    });
    decipher.setAuthTag(sealed.subarray(tagStart));
    if (aad !== undefined) decipher.setAAD(aad);
    const head = decipher.update(sealed.subarray(0, tagStart));
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch (err) {
    throw new TidewireError(WireErrorCode.DecryptFailed, 'sealed message failed authentication', {
      cause: err,
    });
  }
}

/** Seals `plaintext` as packet `packetNumber` of `direction`. */
export function seal(
  key: Uint8Array,
  direction: Direction,
  packetNumber: number,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  return aesGcmSeal(key, sessionNonce(direction, packetNumber), plaintext, aad);
}

/** Opens packet `packetNumber` of `direction`. Does not check for replays: see `ReplayWindow`. */
export function open(
  key: Uint8Array,
  direction: Direction,
  packetNumber: number,
  sealed: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  return aesGcmOpen(key, sessionNonce(direction, packetNumber), sealed, aad);
}

/**
 * Sliding replay window over packet numbers (in the manner of IPsec/DTLS):
 * each number is accepted once; numbers more than `size` below the highest
 * accepted are rejected as too old. Mark a number only after its packet
 * authenticated, so forged packets cannot poison the window.
 */
export class ReplayWindow {
  readonly size: number;
  readonly #bits: Uint32Array;
  #highest = -1;

  constructor(size = 1024) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0 || size > 65536) {
      throw invalidArgument('replay window size must be a multiple of 32 in 32..65536');
    }
    this.size = size;
    this.#bits = new Uint32Array(size / 32);
  }

  /** The highest packet number accepted so far, or -1. */
  get highest(): number {
    return this.#highest;
  }

  /**
   * True when `packetNumber` was accepted before or is too old: what `check`
   * throws for, without the cost of an error (a flood of replayed packets
   * should cost little to drop).
   */
  isReplay(packetNumber: number): boolean {
    assertPacketNumber(packetNumber);
    if (packetNumber > this.#highest) return false;
    return packetNumber <= this.#highest - this.size || this.#get(packetNumber);
  }

  /** Throws `TIDEWIRE_ERR_REPLAYED` if `packetNumber` was accepted before or is too old. */
  check(packetNumber: number): void {
    if (!this.isReplay(packetNumber)) return;
    throw new TidewireError(
      WireErrorCode.Replayed,
      packetNumber <= this.#highest - this.size
        ? `packet ${packetNumber} is older than the replay window (highest ${this.#highest})`
        : `packet ${packetNumber} was already received`,
    );
  }

  /** Checks, then records `packetNumber` as received. */
  accept(packetNumber: number): void {
    this.check(packetNumber);
    if (packetNumber > this.#highest) {
      const advance = packetNumber - this.#highest;
      if (advance >= this.size) {
        this.#bits.fill(0);
      } else {
        for (let n = this.#highest + 1; n < packetNumber; n++) this.#set(n, false);
      }
      this.#highest = packetNumber;
    }
    this.#set(packetNumber, true);
  }

  #get(n: number): boolean {
    const bit = n % this.size;
    return (this.#bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  #set(n: number, value: boolean): void {
    const bit = n % this.size;
    const word = bit >>> 5;
    const mask = 1 << (bit & 31);
    this.#bits[word] = value ? this.#bits[word]! | mask : this.#bits[word]! & ~mask;
  }
}

/**
 * One side of an encrypted session. It seals outgoing messages with its own
 * direction and an increasing packet number, and opens incoming ones with the
 * peer's direction, rejecting replays.
 *
 * - Datagram transports send the packet number explicitly and call `open`.
 * - Stream transports (TCP) deliver in order and call `openNext`, which
 *   expects exactly the next packet number.
 */
export class SessionCipher {
  readonly #key: Buffer;
  readonly #sendDirection: Direction;
  readonly #receiveDirection: Direction;
  readonly #window: ReplayWindow;
  #nextSend = 0;
  #nextReceive = 0;

  constructor(key: Uint8Array, role: 'client' | 'server', replayWindowSize = 1024) {
    assertKey(key);
    this.#key = Buffer.from(key);
    this.#sendDirection = role === 'client' ? Direction.ClientToServer : Direction.ServerToClient;
    this.#receiveDirection =
      role === 'client' ? Direction.ServerToClient : Direction.ClientToServer;
    this.#window = new ReplayWindow(replayWindowSize);
  }

  /** The packet number the next `seal` will use. */
  get nextPacketNumber(): number {
    return this.#nextSend;
  }

  /** Seals with the next packet number. */
  seal(plaintext: Uint8Array, aad?: Uint8Array): { packetNumber: number; sealed: Buffer } {
    const packetNumber = this.#nextSend;
    if (packetNumber > MAX_PACKET_NUMBER) {
      throw invalidArgument('packet numbers exhausted for this session key');
    }
    const sealed = seal(this.#key, this.#sendDirection, packetNumber, plaintext, aad);
    this.#nextSend = packetNumber + 1;
    return { packetNumber, sealed };
  }

  /** Opens a datagram sealed as `packetNumber` by the peer; rejects replays and forgeries. */
  open(packetNumber: number, sealed: Uint8Array, aad?: Uint8Array): Buffer {
    this.#window.check(packetNumber);
    const plaintext = open(this.#key, this.#receiveDirection, packetNumber, sealed, aad);
    this.#window.accept(packetNumber);
    return plaintext;
  }

  /** Opens the next message of an ordered stream (implicit packet number). */
  openNext(sealed: Uint8Array, aad?: Uint8Array): Buffer {
    const plaintext = open(this.#key, this.#receiveDirection, this.#nextReceive, sealed, aad);
    this.#nextReceive++;
    return plaintext;
  }

  /** Keys never print: not in logs, not in dumps. */
  toJSON(): { cipher: 'aes-128-gcm' } {
    return { cipher: 'aes-128-gcm' };
  }
}

function assertKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== SESSION_KEY_LENGTH) {
    throw invalidArgument(`session key must be ${SESSION_KEY_LENGTH} bytes`);
  }
}

function assertPacketNumber(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PACKET_NUMBER) {
    throw invalidArgument(`packet number must be an integer in 0..2^48-1, got ${String(n)}`);
  }
}
