import { invalidArgument, TidewireError, WireErrorCode } from './errors.ts';
import {
  checkMagic,
  DEFAULT_MAX_PAYLOAD_LENGTH,
  EMPTY_PAYLOAD,
  type Frame,
  frameFromHeader,
  frameTooLarge,
  HEADER_SIZE,
  MAX_PAYLOAD_LENGTH_LIMIT,
  readPayloadLength,
  truncated,
} from './frame.ts';

export interface FrameDecoderOptions {
  /** Frames announcing a longer payload are rejected before any allocation. Default 64 KiB. */
  maxPayloadLength?: number;
}

export type FrameHandler = (frame: Frame) => void;

/**
 * Incremental frame decoder for byte streams (TCP). Feed it chunks of any
 * size with `push`; it calls `onFrame` once per whole frame, in order.
 *
 * Ownership: a frame that lies whole inside one pushed chunk gets a payload
 * that is a view (`subarray`) of that chunk, with no copy; a frame that spans
 * chunks gets a payload buffer of its own. The decoder never writes into a
 * buffer after handing out a view of it, so payloads stay valid as long as the
 * caller does not modify the chunks it pushed. Copy a payload you keep if the
 * chunk's memory is reused by its producer.
 *
 * Errors: bad magic, a length over `maxPayloadLength` (checked before any
 * allocation) and `end()` inside a frame throw a `TidewireError`. After an
 * error, or after `onFrame` throws, the stream position is lost and every
 * further `push` throws `TIDEWIRE_ERR_DECODER_FAILED`.
 */
export class FrameDecoder {
  readonly maxPayloadLength: number;
  /**
   * Bytes of a partial header; made the first time a header or a frame
   * spans reads (most decoders never see one).
   */
  #header: Buffer | null = null;
  #headerFill = 0;
  /** Payload of the frame being assembled across chunks, or null. */
  #body: Buffer | null = null;
  #bodyFill = 0;
  #failure: TidewireError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH;
    if (!Number.isInteger(max) || max < 0 || max > MAX_PAYLOAD_LENGTH_LIMIT) {
      throw invalidArgument(
        `maxPayloadLength must be an integer in 0..${MAX_PAYLOAD_LENGTH_LIMIT}`,
      );
    }
    this.maxPayloadLength = max;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.#body === null ? this.#headerFill : HEADER_SIZE + this.#bodyFill;
  }

  /** True after an error; the decoder accepts nothing more. */
  get failed(): boolean {
    return this.#failure !== null;
  }

  /** Decodes `chunk`, calling `onFrame` for each whole frame. */
  push(chunk: Uint8Array, onFrame: FrameHandler): void {
    if (this.#failure !== null) {
      throw new TidewireError(
        WireErrorCode.DecoderFailed,
        `decoder failed earlier: ${this.#failure.message}`,
        { cause: this.#failure },
      );
    }
    try {
      this.#push(toBuffer(chunk), onFrame);
    } catch (err) {
      this.#failure =
        err instanceof TidewireError
          ? err
          : new TidewireError(WireErrorCode.DecoderFailed, 'frame handler threw', { cause: err });
      this.#body = null;
      throw err;
    }
  }

  /** Declares the end of the stream; throws `Truncated` if a frame is incomplete. */
  end(): void {
    const pending = this.bufferedBytes;
    if (pending > 0 && this.#failure === null) {
      this.#failure = truncated(pending);
      this.#body = null;
      throw this.#failure;
    }
  }

  #push(chunk: Buffer, onFrame: FrameHandler): void {
    const size = chunk.length;
    let offset = 0;

    // 1. Complete a header started in an earlier chunk.
    if (this.#headerFill > 0 && this.#body === null) {
      const take = Math.min(HEADER_SIZE - this.#headerFill, size);
      const header = this.#keptHeader();
      chunk.copy(header, this.#headerFill, 0, take);
      this.#headerFill += take;
      offset = take;
      checkMagic(header, 0, this.#headerFill);
      if (this.#headerFill < HEADER_SIZE) return;
      const length = readPayloadLength(header, 0);
      if (length > this.maxPayloadLength) throw frameTooLarge(length, this.maxPayloadLength);
      if (length === 0) {
        this.#headerFill = 0;
        onFrame(this.#frameFromHeader(EMPTY_PAYLOAD));
      } else {
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyFill = 0;
      }
    }

    // 2. Complete a payload started in an earlier chunk.
    if (this.#body !== null) {
      const body = this.#body;
      const take = Math.min(body.length - this.#bodyFill, size - offset);
      chunk.copy(body, this.#bodyFill, offset, offset + take);
      this.#bodyFill += take;
      offset += take;
      if (this.#bodyFill < body.length) return;
      this.#body = null;
      this.#headerFill = 0;
      onFrame(this.#frameFromHeader(body));
    }

    // 3. Whole frames inside this chunk: views, no copies.
    while (size - offset >= HEADER_SIZE) {
      checkMagic(chunk, offset, 2);
      const length = readPayloadLength(chunk, offset);
      if (length > this.maxPayloadLength) throw frameTooLarge(length, this.maxPayloadLength);
      const end = offset + HEADER_SIZE + length;
      if (end > size) {
        // The payload continues in later chunks.
        chunk.copy(this.#keptHeader(), 0, offset, offset + HEADER_SIZE);
        this.#headerFill = HEADER_SIZE;
        const body = Buffer.allocUnsafe(length);
        chunk.copy(body, 0, offset + HEADER_SIZE, size);
        this.#body = body;
        this.#bodyFill = size - offset - HEADER_SIZE;
        return;
      }
      const frame = frameFromHeader(chunk, offset, chunk.subarray(offset + HEADER_SIZE, end));
      offset = end;
      onFrame(frame);
    }

    // 4. Keep a partial header for the next chunk.
    if (offset < size) {
      checkMagic(chunk, offset, size - offset);
      chunk.copy(this.#keptHeader(), 0, offset, size);
      this.#headerFill = size - offset;
    }
  }

  #keptHeader(): Buffer {
    this.#header ??= Buffer.allocUnsafe(HEADER_SIZE);
    return this.#header;
  }

  #frameFromHeader(payload: Buffer): Frame {
    return frameFromHeader(this.#keptHeader(), 0, payload);
  }
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk)
    ? chunk
    : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
