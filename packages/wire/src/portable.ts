/**
 * The browser-safe part of the wire package (`@tidewire/wire/portable`): no
 * `node:` imports and no `Buffer`. Constants, errors, and a frame codec over
 * `Uint8Array` and `DataView`, for clients that run in a page.
 */
export {
  BUILTIN_VER,
  CORE_VER,
  CoreCommand,
  FIRST_APP_VER,
  isDebugCommand,
  isReservedVer,
  Status,
} from './constants.ts';
export { isTidewireError, TidewireError, WireErrorCode } from './errors.ts';
export { decodeFrameBytes, encodeFrameBytes, type FrameBytes } from './portable-frame.ts';
export { packBytes, unpackBytes } from './portable-msgpack.ts';
export {
  AckSchedule,
  type KeptFrame,
  LINK_LOSS_CODES,
  NumberedLog,
  type NumberedLogBounds,
  RESUME_TOKEN_LENGTH,
  ResumeErrorCode,
} from './resume-log.ts';
