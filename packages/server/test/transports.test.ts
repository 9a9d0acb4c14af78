import { afterEach, describe, expect, it } from 'vitest';
import { createServer, Ok, TCPType, type TidewireServer, UDPType, WSType } from '../src/index.ts';
import { client } from './helpers.ts';

let server: TidewireServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('transport types and registration', () => {
  it('exports the seed constants TCPType and UDPType, and WSType for the WebSocket transport', () => {
    expect(TCPType).toBe('tcp');
    expect(UDPType).toBe('udp');
    expect(WSType).toBe('ws');
  });

  it('setupAsServer(type) runs a registered transport and refuses an unregistered one', async () => {
    server = createServer({ config: { http: { port: 0 }, tcp: { port: 0 } }, env: {} });
    await expect(server.setupAsServer(WSType)).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
    });
    await server.setupAsServer(TCPType);
    expect(server.isTCP()).toBe(true);
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
    await server.start();
    const c = await client(server, 'alice');
    try {
      expect(c.transport).toBe(TCPType);
      const answer = await c.request(2, 1, Buffer.from('hi'));
      expect(Buffer.from(answer.payload).toString()).toBe('hi');
    } finally {
      await c.close();
    }
  });
});
