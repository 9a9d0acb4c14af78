import { type Options, Unpackr } from 'msgpackr';
import { copyBytes } from './bytes.ts';

/** Payloads up to this many bytes are decoded from the kept buffer (see `SmallUnpacker`). */
export const SMALL_PAYLOAD_MAX = 512;

/**
 * Decodes small msgpack values without a new DataView per decode.
 *
 * msgpackr reads numbers through a DataView of its input, made at the first
 * decode of a buffer and kept on it. A payload is a new view each time, so
 * each decode made one: at 32 bytes that was about a third of the decode.
 * Here a payload of up to `SMALL_PAYLOAD_MAX` bytes is copied into one buffer
 * kept for the purpose and read through a view of it of exactly its length,
 * made once per length (with its DataView, kept by msgpackr): a read past
 * the end finds nothing, as it would on the payload itself.
 *
 * Nothing decoded refers to the kept buffer: binary values are copied out
 * (`copyBuffers`); strings and numbers are values. Not re-entrant: while a
 * decode is under way (an extension handler decoding), `takes` says no.
 */
export class SmallUnpacker {
  readonly #unpackr: Unpackr;
  readonly #scratch = Buffer.allocUnsafeSlow(SMALL_PAYLOAD_MAX);
  /** Index = length: a view of `#scratch` of that length, made on first use. */
  readonly #views: (Buffer | undefined)[] = new Array(SMALL_PAYLOAD_MAX + 1).fill(undefined);
  #busy = false;

  constructor(options: Options) {
    this.#unpackr = new Unpackr({ ...options, copyBuffers: true });
  }

  /** True when `unpack` can decode `length` bytes now. */
  takes(length: number): boolean {
    return length <= SMALL_PAYLOAD_MAX && !this.#busy;
  }

  /** Decodes `data`; the caller has checked `takes(data.length)`. Throws what msgpackr throws. */
  unpack(data: Uint8Array): unknown {
    const length = data.length;
    let view = this.#views[length];
    if (view === undefined) {
      view = this.#scratch.subarray(0, length);
      this.#views[length] = view;
    }
    copyBytes(view, data, 0);
    this.#busy = true;
    try {
      return this.#unpackr.unpack(view);
    } finally {
      this.#busy = false;
    }
  }
}
