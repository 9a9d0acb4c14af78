import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { dialTo, frame, indexOf, rawSocket, sleep, startServer, until } from './helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function init(type: number, sid: Buffer, nonce: Buffer, cookie?: Buffer): Buffer {
  const out = Buffer.alloc(96);
  out[0] = type;
  out[1] = 1;
  nonce.copy(out, 4);
  sid.copy(out, 12);
  cookie?.copy(out, 28);
  return out;
}

describe('hostile and malformed datagrams', () => {
  it('answers an INIT with a smaller COOKIE and keeps no state; a bad cookie gets nothing', async () => {
    const s = await startServer();
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    const { sid } = s.ticket();
    const nonce = randomBytes(8);
    for (let i = 0; i < 50; i++)
      raw.socket.send(init(0x01, sid, nonce), s.listener.port, '127.0.0.1');
    await until(() => raw.replies.length === 50);
    for (const reply of raw.replies) {
      expect(reply.length).toBe(32);
      expect(reply[0]).toBe(0x02);
    }
    expect(s.listener.connections.size).toBe(0);
    // a forged cookie, a cookie for another nonce, a truncated INIT: no answer at all
    const cookie = raw.replies[0]!.subarray(12, 32);
    raw.replies.length = 0;
    raw.socket.send(init(0x03, sid, nonce, randomBytes(20)), s.listener.port, '127.0.0.1');
    raw.socket.send(init(0x03, sid, randomBytes(8), cookie), s.listener.port, '127.0.0.1');
    raw.socket.send(init(0x03, sid, nonce, cookie).subarray(0, 95), s.listener.port, '127.0.0.1');
    await sleep(100);
    expect(raw.replies.length).toBe(0);
    expect(s.accepted.length).toBe(0);
    // the genuine echo from the address the cookie was made for is accepted (20-byte ACCEPT)
    raw.socket.send(init(0x03, sid, nonce, cookie), s.listener.port, '127.0.0.1');
    await until(() => raw.replies.length === 1);
    expect(raw.replies[0]!.length).toBe(20);
    expect(raw.replies[0]![0]).toBe(0x04);
    // a repeated echo gets the same ACCEPT, not a second connection
    raw.socket.send(init(0x03, sid, nonce, cookie), s.listener.port, '127.0.0.1');
    await until(() => raw.replies.length === 2);
    expect(raw.replies[1]!.equals(raw.replies[0]!)).toBe(true);
    expect(s.accepted.length).toBe(1);
  });

  it('a cookie made for one source port is useless from another', async () => {
    const s = await startServer();
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const a = await rawSocket();
    const b = await rawSocket();
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const { sid } = s.ticket();
    const nonce = randomBytes(8);
    a.socket.send(init(0x01, sid, nonce), s.listener.port, '127.0.0.1');
    await until(() => a.replies.length === 1);
    b.socket.send(
      init(0x03, sid, nonce, a.replies[0]!.subarray(12, 32)),
      s.listener.port,
      '127.0.0.1',
    );
    await sleep(100);
    expect(b.replies.length).toBe(0);
    expect(s.accepted.length).toBe(0);
  });

  it('random bytes, truncated headers, bad lengths and unknown ids never crash the server or disturb a user', async () => {
    const s = await startServer({}, (c) => {
      c.onFrame = (f) => {
        c.send(frame(indexOf(f)));
      };
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s);
    cleanups.push(() => client.destroy());
    const got: number[] = [];
    client.onFrame = (f) => got.push(indexOf(f));
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    await until(() => s.accepted.length === 1);
    const id = s.accepted[0]!.id;
    const datagrams = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 1400 }).map((b) => Buffer.from(b)),
        // DATA for other (unknown) connection ids, any body
        fc
          .tuple(fc.nat(), fc.nat(), fc.uint8Array({ minLength: 0, maxLength: 300 }))
          .map(([cid, pn, body]) => {
            const out = Buffer.alloc(10 + body.length);
            out[0] = 0x10;
            out.writeUInt32BE(cid === id ? cid + 1 : cid >>> 0, 2);
            out.writeUInt32BE(pn >>> 0, 6);
            out.set(body, 10);
            return out;
          }),
        // handshake types with wrong sizes
        fc.tuple(fc.constantFrom(1, 2, 3, 4, 5, 0x10), fc.nat(120)).map(([t, n]) => {
          const out = randomBytes(n);
          if (n > 0) out[0] = t;
          return out;
        }),
      ),
      { numRuns: 3000, seed: 12345 },
    );
    let sent = 0;
    for (const d of datagrams) {
      raw.socket.send(d, s.listener.port, '127.0.0.1');
      if (++sent % 200 === 0) await sleep(2);
    }
    for (let i = 0; i < 200; i++) client.send(frame(i));
    await until(() => got.length === 200, 10_000, 'echoes after the garbage');
    expect(got).toEqual([...Array(200).keys()]);
    // nothing the raw socket sent drew a reply larger than itself (only COOKIEs to well-formed INITs)
    for (const reply of raw.replies) expect(reply.length).toBeLessThanOrEqual(32);
    expect(s.accepted.length).toBe(1);
  }, 15_000);

  it('garbage DATA bodies for a live connection id (no encryption) never crash the listener', async () => {
    const s = await startServer({}, (c) => {
      c.onFrame = (f) => {
        c.send(frame(indexOf(f)));
      };
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const victim = await dialTo(s);
    cleanups.push(() => victim.destroy());
    await until(() => s.accepted.length === 1);
    const id = s.accepted[0]!.id;
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    const bodies = fc.sample(
      fc.tuple(fc.nat(3000), fc.uint8Array({ minLength: 0, maxLength: 300 })),
      { numRuns: 2000, seed: 99 },
    );
    let sent = 0;
    for (const [pn, body] of bodies) {
      const out = Buffer.alloc(10 + body.length);
      out[0] = 0x10;
      out.writeUInt32BE(id, 2);
      out.writeUInt32BE(pn, 6);
      out.set(body, 10);
      raw.socket.send(out, s.listener.port, '127.0.0.1');
      if (++sent % 200 === 0) await sleep(2);
    }
    await sleep(50);
    // without encryption nothing authenticates a DATA packet (documented); the listener
    // itself keeps working for everybody else
    const other = await dialTo(s);
    cleanups.push(() => other.destroy());
    const got: number[] = [];
    other.onFrame = (f) => got.push(indexOf(f));
    for (let i = 0; i < 50; i++) other.send(frame(i));
    await until(() => got.length === 50);
    expect(got).toEqual([...Array(50).keys()]);
  }, 15_000);

  it('with encryption, a forged DATA packet for a live id neither delivers nor moves the connection', async () => {
    const s = await startServer({ encryption: true });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s, { encryption: true });
    cleanups.push(() => client.destroy());
    await until(() => s.accepted.length === 1);
    const conn = s.accepted[0]!;
    let frames = 0;
    conn.onFrame = () => {
      frames++;
    };
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    for (let pn = 0; pn < 20; pn++) {
      const forged = Buffer.concat([Buffer.from([0x10, 1]), Buffer.alloc(8), randomBytes(40)]);
      forged.writeUInt32BE(conn.id, 2);
      forged.writeUInt32BE(pn, 6);
      raw.socket.send(forged, s.listener.port, '127.0.0.1');
    }
    await sleep(100);
    expect(frames).toBe(0);
    expect(conn.remotePort).toBe(client.localPort);
    expect(conn.stats().rejected).toBeGreaterThanOrEqual(20);
    expect(raw.replies.length).toBe(0);
    client.send(frame(5));
    await until(() => frames === 1);
  });

  it('drops DATA datagrams longer than 10 + mtu', async () => {
    const s = await startServer({ mtu: 1200 });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s);
    cleanups.push(() => client.destroy());
    await until(() => s.accepted.length === 1);
    const conn = s.accepted[0]!;
    const got: number[] = [];
    conn.onFrame = (f) => got.push(f.payload.length);
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    const packet = (pn: number, payloadLength: number): Buffer => {
      const f = frame(0, payloadLength);
      const out = Buffer.alloc(10 + 7 + f.length);
      out[0] = 0x10;
      out.writeUInt32BE(conn.id, 2);
      out.writeUInt32BE(pn, 6);
      out[10] = 0x01; // RELIABLE, seq 0
      out.writeUInt16BE(f.length, 15);
      f.copy(out, 17);
      return out;
    };
    raw.socket.send(packet(1000, 1500), s.listener.port, '127.0.0.1');
    await sleep(50);
    expect(got).toEqual([]);
    expect(conn.stats().rejected).toBe(1);
    raw.socket.send(packet(1001, 500), s.listener.port, '127.0.0.1');
    await until(() => got.length === 1);
    expect(got).toEqual([500]);
  });

  it('limits handshakes per source address so one host cannot use up the budget', async () => {
    const s = await startServer({ handshakeRateLimitPerSource: 5, limitLoopbackHandshakes: true });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const greedy = await rawSocket();
    cleanups.push(() => greedy.close());
    const { sid } = s.ticket();
    for (let i = 0; i < 50; i++) {
      greedy.socket.send(init(0x01, sid, randomBytes(8)), s.listener.port, '127.0.0.1');
    }
    await sleep(150);
    expect(greedy.replies.length).toBeGreaterThanOrEqual(5);
    expect(greedy.replies.length).toBeLessThanOrEqual(7);
    // Another host (another loopback address, counted as a host here) still gets through.
    const other = await rawSocket('127.0.0.2');
    cleanups.push(() => other.close());
    other.socket.send(init(0x01, sid, randomBytes(8)), s.listener.port, '127.0.0.1');
    await until(() => other.replies.length === 1);
  });

  it('does not limit loopback sources per address by default', async () => {
    const s = await startServer({ handshakeRateLimitPerSource: 5 });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const local = await rawSocket();
    cleanups.push(() => local.close());
    const { sid } = s.ticket();
    for (let i = 0; i < 30; i++)
      local.socket.send(init(0x01, sid, randomBytes(8)), s.listener.port, '127.0.0.1');
    await until(() => local.replies.length === 30);
  });

  it('drops handshake datagrams past handshakeRateLimit', async () => {
    const s = await startServer({ handshakeRateLimit: 10 });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    const { sid } = s.ticket();
    for (let i = 0; i < 50; i++) {
      raw.socket.send(init(0x01, sid, randomBytes(8)), s.listener.port, '127.0.0.1');
    }
    await sleep(150);
    expect(raw.replies.length).toBeGreaterThanOrEqual(10);
    expect(raw.replies.length).toBeLessThanOrEqual(13);
  });
});

describe('a reliable unit holding several whole frames', () => {
  it('runs every frame of the unit, in order (hand-built datagrams)', async () => {
    const got: number[] = [];
    const s = await startServer({}, (c) => {
      c.onFrame = (f) => got.push(indexOf(f));
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    const { sid } = s.ticket();
    const nonce = randomBytes(8);
    raw.socket.send(init(0x01, sid, nonce), s.listener.port, '127.0.0.1');
    await until(() => raw.replies.length === 1);
    const cookie = raw.replies[0]!.subarray(12, 32);
    raw.socket.send(init(0x03, sid, nonce, cookie), s.listener.port, '127.0.0.1');
    await until(() => raw.replies.length === 2);
    expect(raw.replies[1]![0]).toBe(0x04);
    const id = raw.replies[1]!.readUInt32BE(12);
    const frames = Buffer.concat([frame(7), frame(8), frame(9)]);
    const unit = Buffer.alloc(7 + frames.length);
    unit[0] = 0x01;
    unit.writeUInt32BE(0, 1);
    unit.writeUInt16BE(frames.length, 5);
    frames.copy(unit, 7);
    const out = Buffer.alloc(10 + unit.length);
    out[0] = 0x10;
    out.writeUInt32BE(id, 2);
    out.writeUInt32BE(0, 6);
    unit.copy(out, 10);
    raw.socket.send(out, s.listener.port, '127.0.0.1');
    await until(() => got.length === 3, 3000, 'three frames');
    expect(got).toEqual([7, 8, 9]);
  });
});
