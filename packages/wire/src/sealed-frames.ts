import type { SessionCipher } from './crypto.ts';
import { encodeFrame, type Frame, MAGIC_0, MAGIC_1 } from './frame.ts';

/**
 * Frame sealing for stream transports (TCP), protocol section 7: the payload
 * is sealed with the session cipher; the first 6 header bytes (magic, ver,
 * cmd, status) are the additional authenticated data, so they stay readable
 * but cannot be changed; `length` is the sealed length. Both ends count
 * frames per direction, so no packet number is sent.
 */
function headerAad(ver: number, cmd: number, status: number): Buffer {
  const aad = Buffer.allocUnsafe(6);
  aad[0] = MAGIC_0;
  aad[1] = MAGIC_1;
  aad[2] = ver;
  aad.writeUInt16BE(cmd, 3);
  aad[5] = status;
  return aad;
}

/** Encodes a frame whose payload is sealed with the next packet number of `cipher`. */
export function sealFrame(
  cipher: SessionCipher,
  ver: number,
  cmd: number,
  status: number,
  payload: Uint8Array,
): Buffer {
  const { sealed } = cipher.seal(payload, headerAad(ver, cmd, status));
  return encodeFrame(ver, cmd, status, sealed);
}

/**
 * Opens a received sealed frame (the next one of the peer's direction).
 * Throws `TIDEWIRE_ERR_DECRYPT_FAILED` when it was tampered with, truncated,
 * reordered, replayed or sealed with another key.
 */
export function openFrame(cipher: SessionCipher, frame: Frame): Frame {
  const payload = cipher.openNext(frame.payload, headerAad(frame.ver, frame.cmd, frame.status));
  return { ver: frame.ver, cmd: frame.cmd, status: frame.status, payload };
}
