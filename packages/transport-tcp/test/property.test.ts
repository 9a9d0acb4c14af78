import { encodeFrame, type Frame } from '@tidewire/wire';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenTcp, type TcpListener } from '../src/index.ts';
import { nextTick, rawClient, waitFor } from './helpers.ts';

let listener: TcpListener;
const received = new Map<number, Frame[]>();

beforeAll(async () => {
  listener = await listenTcp({ maxPayloadLength: 1024 }, (connection) => {
    const frames: Frame[] = [];
    received.set(connection.remotePort, frames);
    connection.onFrame = (frame) => frames.push({ ...frame, payload: Buffer.from(frame.payload) });
  });
});
afterAll(async () => {
  await listener.close({ graceMs: 100 });
});

const frameArb = fc.record({
  ver: fc.integer({ min: 2, max: 255 }),
  cmd: fc.integer({ min: 0, max: 0xffff }),
  status: fc.constantFrom(0, 1, 4, 5, 0xff),
  payload: fc.uint8Array({ maxLength: 300 }),
});

describe('property: any chunking of a frame stream over a real socket', () => {
  it('delivers the same frames in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(frameArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
        async (frames, cuts) => {
          const client = await rawClient(listener.port);
          client.socket.setNoDelay(true);
          const port = client.socket.localPort!;
          const stream = Buffer.concat(
            frames.map((f) => encodeFrame(f.ver, f.cmd, f.status, f.payload)),
          );
          // Write the stream in pieces of the given sizes (cycling), one per tick.
          let offset = 0;
          for (let i = 0; offset < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            client.socket.write(stream.subarray(offset, offset + size));
            offset += size;
            await nextTick();
          }
          await waitFor(() => (received.get(port)?.length ?? 0) === frames.length);
          const got = received.get(port)!;
          expect(
            got.map((f) => ({ ver: f.ver, cmd: f.cmd, status: f.status, payload: [...f.payload] })),
          ).toEqual(frames.map((f) => ({ ...f, payload: [...f.payload] })));
          client.socket.destroy();
          await client.closed;
          received.delete(port);
        },
      ),
      { numRuns: 25 },
    );
  });
});
