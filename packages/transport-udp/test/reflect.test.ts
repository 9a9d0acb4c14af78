import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeReflect, REFLECTED_SIZE, reflectAddress } from '../src/index.ts';
import { rawSocket, startServer } from './helpers.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('address reflection', () => {
  it('tells a socket its address as the server sees it, statelessly and with a smaller answer', async () => {
    const s = await startServer({});
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    const seen = await reflectAddress(socket, '127.0.0.1', s.listener.port);
    expect(seen).toEqual({ address: '127.0.0.1', port: socket.address().port });
    expect(REFLECTED_SIZE).toBeLessThan(encodeReflect(Buffer.alloc(8)).length);
    expect(s.listener.connections.size).toBe(0);
  });

  it('ignores malformed reflections', async () => {
    const s = await startServer({});
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    raw.socket.send(Buffer.from([0x20, 1, 2, 3]), s.listener.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    expect(raw.replies).toEqual([]);
  });
});
