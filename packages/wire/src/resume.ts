/**
 * The parts of resume (protocol section 13) that need Node: the token from
 * the secure generator and the resume key of sealed sessions. The rest
 * (codes, the numbered log, acks) is in resume-log.ts, shared with browsers.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { invalidArgument } from './errors.ts';
import { RESUME_TOKEN_LENGTH } from './resume-log.ts';

const RESUME_KEY_INFO = Buffer.from('tidewire resume v1', 'ascii');

/** A fresh resume token from the system's secure generator. */
export function createResumeToken(): Buffer {
  return randomBytes(RESUME_TOKEN_LENGTH);
}

/**
 * The key of a resumed connection of a sealed session:
 * HKDF-SHA256(ikm = session key, salt = token, info = "tidewire resume v1", 16 bytes).
 * Each resume has its own token, so no key seals two connections.
 */
export function deriveResumeKey(sessionKey: Uint8Array, token: Uint8Array): Buffer {
  if (sessionKey.length !== 16) throw invalidArgument('session key must be 16 bytes');
  if (token.length !== RESUME_TOKEN_LENGTH) {
    throw invalidArgument(`resume token must be ${RESUME_TOKEN_LENGTH} bytes`);
  }
  return Buffer.from(hkdfSync('sha256', sessionKey, token, RESUME_KEY_INFO, 16));
}
