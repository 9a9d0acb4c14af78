import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { COOKIE_LENGTH } from './packets.ts';

const MAC_LENGTH = 16;
/** Seconds a cookie stays valid after it was made. */
export const COOKIE_MAX_AGE_S = 60;
/** Seconds a cookie's timestamp may be ahead of the server's clock. */
export const COOKIE_MAX_SKEW_S = 5;
export const COOKIE_ROTATE_MS = 30_000;

/**
 * Stateless handshake cookies (docs/protocol.md section 11.2): `timestamp u32 ||
 * HMAC-SHA256(secret, address || port || sid || clientNonce || timestamp)[0..16]`.
 * The secret rotates every 30 s (lazily, no timer); the previous secret still
 * verifies, so a cookie lives up to 60 s whatever the rotation phase.
 */
export class CookieJar {
  #current: Buffer = randomBytes(32);
  #previous: Buffer = randomBytes(32);
  #rotatedAt: number;
  readonly #rotateMs: number;

  constructor(now: number = Date.now(), rotateMs: number = COOKIE_ROTATE_MS) {
    this.#rotatedAt = now;
    this.#rotateMs = rotateMs;
  }

  make(
    address: string,
    port: number,
    sid: Uint8Array,
    nonce: Uint8Array,
    now: number = Date.now(),
  ): Buffer {
    this.#rotate(now);
    const timestamp = Math.floor(now / 1000) >>> 0;
    const cookie = Buffer.allocUnsafe(COOKIE_LENGTH);
    cookie.writeUInt32BE(timestamp, 0);
    this.#mac(this.#current, address, port, sid, nonce, timestamp).copy(cookie, 4, 0, MAC_LENGTH);
    return cookie;
  }

  verify(
    cookie: Uint8Array,
    address: string,
    port: number,
    sid: Uint8Array,
    nonce: Uint8Array,
    now: number = Date.now(),
  ): boolean {
    if (cookie.length !== COOKIE_LENGTH) return false;
    this.#rotate(now);
    const timestamp = Buffer.from(cookie.buffer, cookie.byteOffset, cookie.length).readUInt32BE(0);
    const nowS = Math.floor(now / 1000);
    if (timestamp > nowS + COOKIE_MAX_SKEW_S || timestamp + COOKIE_MAX_AGE_S < nowS) return false;
    const mac = cookie.subarray(4, 4 + MAC_LENGTH);
    for (const secret of [this.#current, this.#previous]) {
      const expected = this.#mac(secret, address, port, sid, nonce, timestamp).subarray(
        0,
        MAC_LENGTH,
      );
      if (timingSafeEqual(expected, mac)) return true;
    }
    return false;
  }

  #rotate(now: number): void {
    if (now - this.#rotatedAt < this.#rotateMs) return;
    // after a long quiet spell both secrets are stale
    this.#previous = now - this.#rotatedAt < 2 * this.#rotateMs ? this.#current : randomBytes(32);
    this.#current = randomBytes(32);
    this.#rotatedAt = now;
  }

  #mac(
    secret: Buffer,
    address: string,
    port: number,
    sid: Uint8Array,
    nonce: Uint8Array,
    timestamp: number,
  ): Buffer {
    const numbers = Buffer.allocUnsafe(6);
    numbers.writeUInt16BE(port, 0);
    numbers.writeUInt32BE(timestamp, 2);
    return createHmac('sha256', secret)
      .update(address)
      .update(numbers.subarray(0, 2))
      .update(sid)
      .update(nonce)
      .update(numbers.subarray(2))
      .digest();
  }

  /** Secrets never print. */
  toJSON(): { cookieJar: true } {
    return { cookieJar: true };
  }
}
