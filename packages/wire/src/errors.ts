/**
 * Every error Tidewire raises on purpose is a `TidewireError` with a stable
 * `code`. Codes never change meaning once published; messages may.
 */
export class TidewireError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TidewireError';
    this.code = code;
  }
}

/** Error codes raised by `@tidewire/wire`. */
export const WireErrorCode = {
  /** The first two bytes of a frame are not 0xD1 0xDE. */
  BadMagic: 'TIDEWIRE_ERR_BAD_MAGIC',
  /** A frame announces a payload longer than the configured maximum. */
  FrameTooLarge: 'TIDEWIRE_ERR_FRAME_TOO_LARGE',
  /** The input ended in the middle of a frame. */
  Truncated: 'TIDEWIRE_ERR_TRUNCATED',
  /** A decoder was used again after it reported an error. */
  DecoderFailed: 'TIDEWIRE_ERR_DECODER_FAILED',
  /** An argument is out of range or of the wrong type. */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
  /** A sealed message failed authentication (tampered, truncated or wrong key). */
  DecryptFailed: 'TIDEWIRE_ERR_DECRYPT_FAILED',
  /** A packet number was seen before, or is older than the replay window. */
  Replayed: 'TIDEWIRE_ERR_REPLAYED',
  /** A msgpack payload could not be decoded. */
  MsgpackDecode: 'TIDEWIRE_ERR_MSGPACK_DECODE',
  /** A value could not be encoded as msgpack. */
  MsgpackEncode: 'TIDEWIRE_ERR_MSGPACK_ENCODE',
} as const;

export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

/** True when `err` is a `TidewireError`, optionally with the given code. */
export function isTidewireError(err: unknown, code?: string): err is TidewireError {
  return err instanceof TidewireError && (code === undefined || err.code === code);
}

export function invalidArgument(message: string): TidewireError {
  return new TidewireError(WireErrorCode.InvalidArgument, message);
}
