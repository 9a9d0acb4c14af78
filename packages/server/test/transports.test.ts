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

  it('getEndPoint() on a UDP-only server is the bound address of its UDP transport', async () => {
    server = createServer({ config: { http: { port: 0 }, udp: { port: 0 } }, env: {} });
    await server.setupAsUDPServer();
    expect(server.getEndPoint()).toBe('');
    await server.start();
    expect(server.udpPort).toBeGreaterThan(0);
    expect(server.getEndPoint()).toBe(`127.0.0.1:${server.udpPort}`);
    expect(server.getEndPoint()).toBe(server.getUdpEndPoint());
    // The registry hears the same internal address.
    const nodes = await server.mesh.listNodes();
    expect(nodes.find((n) => n.id === server?.nodeId)?.internalAddress).toBe(
      `127.0.0.1:${server.udpPort}`,
    );
  });

  it('getEndPoint() on a TCP and UDP node is the TCP address, whatever the order of setup', async () => {
    server = createServer({
      config: { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0 } },
      env: {},
    });
    await server.setupAsUDPServer();
    await server.setupAsTCPServer();
    await server.start();
    expect(server.getEndPoint()).toBe(`127.0.0.1:${server.tcpPort}`);
    expect(server.getPublicEndPoint()).toBe(`127.0.0.1:${server.tcpPort}`);
  });
});
