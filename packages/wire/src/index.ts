export { copyBytes, readU16, readU32, writeU16, writeU32 } from './bytes.ts';
export {
  BUILTIN_VER,
  CORE_VER,
  CoreCommand,
  FIRST_APP_VER,
  isDebugCommand,
  isReservedVer,
  Status,
} from './constants.ts';
export {
  AUTH_TAG_LENGTH,
  aesGcmOpen,
  aesGcmSeal,
  createSessionKey,
  Direction,
  MAX_PACKET_NUMBER,
  NONCE_LENGTH,
  open,
  ReplayWindow,
  SESSION_KEY_LENGTH,
  SessionCipher,
  seal,
  sessionNonce,
} from './crypto.ts';
export { FrameDecoder, type FrameDecoderOptions, type FrameHandler } from './decoder.ts';
export { isTidewireError, TidewireError, WireErrorCode } from './errors.ts';
export {
  assertFrameFields,
  DEFAULT_MAX_PAYLOAD_LENGTH,
  decodeFrames,
  EMPTY_PAYLOAD,
  encodeFrame,
  encodeFrameInto,
  type Frame,
  frameFromHeader,
  HEADER_SIZE,
  MAGIC_0,
  MAGIC_1,
  MAX_PAYLOAD_LENGTH_LIMIT,
  readPayloadLength,
  writeHeader,
} from './frame.ts';
export { parseHostPort } from './host-port.ts';
export type { Logger } from './logger.ts';
export { isMsgpackMap, pack, packFrame, unpack, unpackMap } from './msgpack.ts';
export { createResumeToken, deriveResumeKey } from './resume.ts';
export {
  ACK_DELAY_MS,
  ACK_EVERY_FRAMES,
  AckSchedule,
  KEPT_FRAME_OVERHEAD,
  type KeptFrame,
  LINK_LOSS_CODES,
  NumberedLog,
  type NumberedLogBounds,
  RESUME_TOKEN_LENGTH,
  ResumeErrorCode,
} from './resume-log.ts';
export { openFrame, sealFrame } from './sealed-frames.ts';
