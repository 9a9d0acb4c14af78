import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUTH_TAG_LENGTH,
  aesGcmOpen,
  aesGcmSeal,
  createSessionKey,
  Direction,
  decodeFrames,
  type Frame,
  open,
  openFrame,
  ReplayWindow,
  SessionCipher,
  seal,
  sealFrame,
  sessionNonce,
  WireErrorCode,
} from '../src/index.ts';

const hex = (s: string) => Buffer.from(s, 'hex');

describe('AES-128-GCM', () => {
  // Test cases 1-3 of "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega.
  it('matches the published test vectors', () => {
    const zeroKey = Buffer.alloc(16);
    const zeroIv = Buffer.alloc(12);
    expect(aesGcmSeal(zeroKey, zeroIv, Buffer.alloc(0)).toString('hex')).toBe(
      '58e2fccefa7e3061367f1d57a4e7455a',
    );
    expect(aesGcmSeal(zeroKey, zeroIv, Buffer.alloc(16)).toString('hex')).toBe(
      '0388dace60b6a392f328c2b971b2fe78' + 'ab6e47d42cec13bdf53a67b21257bddf',
    );
    const key = hex('feffe9928665731c6d6a8f9467308308');
    const iv = hex('cafebabefacedbaddecaf888');
    const plaintext = hex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
        '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255',
    );
    const expected =
      '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e' +
      '21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985' +
      '4d5c2af327cd64a62cf35abd2ba6fab4';
    const sealed = aesGcmSeal(key, iv, plaintext);
    expect(sealed.toString('hex')).toBe(expected);
    expect(aesGcmOpen(key, iv, sealed).equals(plaintext)).toBe(true);
  });

  it('builds the nonce from direction and packet number', () => {
    expect(sessionNonce(Direction.ClientToServer, 0).toString('hex')).toBe(
      '000000000000000000000000',
    );
    expect(sessionNonce(Direction.ServerToClient, 0x0102030405).toString('hex')).toBe(
      '000000010000000102030405',
    );
    expect(() => sessionNonce(Direction.ClientToServer, -1)).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
    expect(() => sessionNonce(Direction.ClientToServer, 2 ** 48)).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
  });

  it('round-trips and rejects any flipped bit, truncation, wrong direction or wrong aad', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.nat(),
        (key, plaintext, pn, flip) => {
          const aad = Buffer.from([1, 2, 3]);
          const sealed = seal(key, Direction.ClientToServer, pn, plaintext, aad);
          expect(sealed.length).toBe(plaintext.length + AUTH_TAG_LENGTH);
          expect([...open(key, Direction.ClientToServer, pn, sealed, aad)]).toEqual([...plaintext]);
          const tampered = Buffer.from(sealed);
          const bit = flip % (tampered.length * 8);
          tampered[bit >>> 3]! ^= 1 << (bit & 7);
          const rejected = expect.objectContaining({ code: WireErrorCode.DecryptFailed });
          expect(() => open(key, Direction.ClientToServer, pn, tampered, aad)).toThrow(rejected);
          expect(() =>
            open(key, Direction.ClientToServer, pn, sealed.subarray(0, sealed.length - 1), aad),
          ).toThrow(rejected);
          expect(() => open(key, Direction.ServerToClient, pn, sealed, aad)).toThrow(rejected);
          expect(() => open(key, Direction.ClientToServer, pn + 1, sealed, aad)).toThrow(rejected);
          expect(() => open(key, Direction.ClientToServer, pn, sealed)).toThrow(rejected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects keys of the wrong size', () => {
    expect(() => seal(Buffer.alloc(15), 0, 0, Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
    expect(() => new SessionCipher(Buffer.alloc(32), 'client')).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
  });
});

/**
 * A ReplayWindow beside its reference model (the set of accepted numbers and
 * the highest one): `feed` offers one number to both and checks they agree.
 */
function modelledWindow(size: number): { readonly highest: number; feed(n: number): void } {
  const w = new ReplayWindow(size);
  const seen = new Set<number>();
  let highest = -1;
  return {
    get highest() {
      return highest;
    },
    feed(n) {
      const expectAccept = !seen.has(n) && n > highest - size;
      expect(w.isReplay(n)).toBe(!expectAccept);
      let accepted = true;
      try {
        w.accept(n);
      } catch {
        accepted = false;
      }
      expect(accepted).toBe(expectAccept);
      if (accepted) {
        seen.add(n);
        highest = Math.max(highest, n);
      }
      expect(w.highest).toBe(highest);
    },
  };
}

describe('ReplayWindow', () => {
  it('accepts each number once, in any order inside the window', () => {
    const w = new ReplayWindow(64);
    for (const n of [5, 3, 4, 0, 70, 69, 10]) w.accept(n);
    expect(w.highest).toBe(70);
    for (const n of [5, 70, 69, 10]) {
      expect(() => w.accept(n)).toThrow(expect.objectContaining({ code: WireErrorCode.Replayed }));
    }
    // 6 is older than 70 - 64: too old even though never seen.
    expect(() => w.check(6)).toThrow(expect.objectContaining({ code: WireErrorCode.Replayed }));
    expect([w.isReplay(6), w.isReplay(5), w.isReplay(7), w.isReplay(71)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(() => w.isReplay(-1)).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
    expect(() => w.check(7)).not.toThrow();
    w.accept(7);
  });

  it('forgets marks that slid out of the window, and handles big jumps', () => {
    const w = new ReplayWindow(32);
    w.accept(1);
    w.accept(33); // bit of 1 is reused by 33
    expect(() => w.check(2)).not.toThrow();
    w.accept(1000);
    expect(() => w.check(999)).not.toThrow();
    expect(() => w.check(968)).toThrow(expect.objectContaining({ code: WireErrorCode.Replayed }));
  });

  it('matches a reference set model for mostly-in-order streams with gaps, late and repeated numbers', () => {
    const step = fc.oneof(
      { weight: 8, arbitrary: fc.constant({ kind: 'next' as const, k: 0 }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('skip' as const),
          k: fc.integer({ min: 2, max: 90 }),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('back' as const),
          k: fc.integer({ min: 0, max: 80 }),
        }),
      },
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 400 }), (steps) => {
        const window = modelledWindow(64);
        for (const { kind, k } of steps) {
          const highest = window.highest;
          window.feed(
            kind === 'next'
              ? highest + 1
              : kind === 'skip'
                ? highest + k
                : Math.max(0, highest - k),
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  it('matches a reference set model for any sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }), (seq) => {
        const window = modelledWindow(64);
        for (const n of seq) window.feed(n);
      }),
      { numRuns: 500 },
    );
  });
});

describe('SessionCipher', () => {
  it('client and server talk both ways under one key and reject replays', () => {
    const key = createSessionKey();
    const client = new SessionCipher(key, 'client');
    const server = new SessionCipher(key, 'server');
    const a = client.seal(Buffer.from('to server'));
    const b = client.seal(Buffer.from('again'));
    expect([a.packetNumber, b.packetNumber]).toEqual([0, 1]);
    expect(server.open(b.packetNumber, b.sealed).toString()).toBe('again');
    expect(server.open(a.packetNumber, a.sealed).toString()).toBe('to server');
    expect(() => server.open(a.packetNumber, a.sealed)).toThrow(
      expect.objectContaining({ code: WireErrorCode.Replayed }),
    );
    const r = server.seal(Buffer.from('to client'));
    expect(client.open(r.packetNumber, r.sealed).toString()).toBe('to client');
    // A client cannot open its own messages (direction separates nonces).
    const own = client.seal(Buffer.from('x'));
    expect(() => client.open(own.packetNumber, own.sealed)).toThrow(
      expect.objectContaining({ code: WireErrorCode.DecryptFailed }),
    );
  });

  it('a forged packet does not poison the replay window', () => {
    const key = createSessionKey();
    const client = new SessionCipher(key, 'client');
    const server = new SessionCipher(key, 'server');
    const real = client.seal(Buffer.from('real'));
    const forged = Buffer.from(real.sealed);
    forged[0]! ^= 0xff;
    expect(() => server.open(real.packetNumber, forged)).toThrow(
      expect.objectContaining({ code: WireErrorCode.DecryptFailed }),
    );
    expect(server.open(real.packetNumber, real.sealed).toString()).toBe('real');
  });

  it('opens an ordered stream with implicit packet numbers', () => {
    const key = createSessionKey();
    const client = new SessionCipher(key, 'client');
    const server = new SessionCipher(key, 'server');
    const one = client.seal(Buffer.from('one')).sealed;
    const two = client.seal(Buffer.from('two')).sealed;
    expect(server.openNext(one).toString()).toBe('one');
    expect(server.openNext(two).toString()).toBe('two');
    // Replaying the first message on the stream fails: it expects packet 2 now.
    expect(() => server.openNext(one)).toThrow(
      expect.objectContaining({ code: WireErrorCode.DecryptFailed }),
    );
  });

  it('never serialises its key', () => {
    const key = createSessionKey();
    const text = JSON.stringify({ cipher: new SessionCipher(key, 'server') });
    expect(text).not.toContain(key.toString('hex'));
    expect(text).not.toContain(key.toString('base64'));
  });
});

describe('constants', async () => {
  const { CoreCommand, isDebugCommand, isReservedVer, Status } = await import('../src/index.ts');
  it('has the status codes and reserved commands of the protocol', () => {
    expect(Status).toEqual({ Request: 0, Ok: 1, Bad: 4, Err: 5, Push: 255 });
    expect(CoreCommand.Notification).toBe(400);
    expect(CoreCommand.DebugUserDump).toBe(905);
    expect([0, 1, 2, 255].map(isReservedVer)).toEqual([true, true, false, false]);
    expect(isDebugCommand(0, 900)).toBe(true);
    expect(isDebugCommand(0, 906)).toBe(false);
    expect(isDebugCommand(2, 900)).toBe(false);
  });
});

function one(buffer: Buffer): Frame {
  const out: Frame[] = [];
  decodeFrames(buffer, (frame) => out.push(frame));
  return out[0]!;
}

describe('sealed frames (stream transports)', () => {
  it('round-trips in order, authenticates the header, and rejects tampering, reordering and the wrong key', () => {
    const key = createSessionKey();
    const client = new SessionCipher(key, 'client');
    const server = new SessionCipher(key, 'server');
    const frames = [0, 1, 2].map((i) =>
      sealFrame(client, 2, 10 + i, 0, Buffer.from(`payload ${i}`)),
    );
    const decoded = frames.map((f) => one(f));
    expect(decoded.map((f) => openFrame(server, f).payload.toString())).toEqual([
      'payload 0',
      'payload 1',
      'payload 2',
    ]);
    // The answer direction has its own counter.
    const answer = one(sealFrame(server, 2, 10, 1, Buffer.from('ok')));
    expect(openFrame(client, answer).payload.toString()).toBe('ok');
    // A changed cmd (AAD) fails; so does a flipped payload bit; so does a replay.
    const fresh = () => ({
      c: new SessionCipher(key, 'client'),
      s: new SessionCipher(key, 'server'),
    });
    const a = fresh();
    const f1 = one(sealFrame(a.c, 2, 1, 0, Buffer.from('x')));
    expect(() => openFrame(a.s, { ...f1, cmd: 2 })).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_DECRYPT_FAILED' }),
    );
    const b = fresh();
    const f2 = one(sealFrame(b.c, 2, 1, 0, Buffer.from('x')));
    const flipped = Buffer.from(f2.payload);
    flipped[0]! ^= 1;
    expect(() => openFrame(b.s, { ...f2, payload: flipped })).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_DECRYPT_FAILED' }),
    );
    const c = fresh();
    const g1 = one(sealFrame(c.c, 2, 1, 0, Buffer.from('1')));
    const g2 = one(sealFrame(c.c, 2, 1, 0, Buffer.from('2')));
    expect(() => openFrame(c.s, g2)).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_DECRYPT_FAILED' }),
    );
    void g1;
    const other = new SessionCipher(createSessionKey(), 'server');
    expect(() =>
      openFrame(other, one(sealFrame(new SessionCipher(key, 'client'), 2, 1, 0, Buffer.from('x')))),
    ).toThrow(expect.objectContaining({ code: 'TIDEWIRE_ERR_DECRYPT_FAILED' }));
  });
});
