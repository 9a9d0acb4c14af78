import type { P2PChannel, TidewireClient } from '@tidewire/client';
import { pack, Status, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import type { TidewireServer } from '../src/index.ts';
import { startEchoServer } from './echo-server.ts';
import { client, waitFor } from './helpers.ts';

let server: TidewireServer;
const clients: TidewireClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

async function udpUser(uid: string): Promise<TidewireClient> {
  const c = await client(server, uid, { transport: 'udp' });
  clients.push(c);
  return c;
}

describe('peer to peer', () => {
  it('two UDP users punch a direct path and exchange messages without the server', async () => {
    server = await startEchoServer({ udp: { enableP2P: true } });
    expect(server.isP2PEnabled()).toBe(true);
    const ann = await udpUser('ann');
    const bob = await udpUser('bob');
    const bobSide = new Promise<P2PChannel>((resolve) => bob.on('p2p', resolve));
    const toBob = await ann.p2pConnect('bob');
    const toAnn = await bobSide;
    expect([toBob.mode, toAnn.mode]).toEqual(['direct', 'direct']);
    const got: string[] = [];
    toAnn.on('message', (data) => got.push(data.toString()));
    const back: string[] = [];
    toBob.on('message', (data) => back.push(data.toString()));
    for (let i = 0; i < 5; i++) toBob.send(Buffer.from(`hi ${i}`));
    toAnn.send(Buffer.from('hello ann'));
    await waitFor(() => got.length === 5 && back.length === 1, 2_000, 'direct messages');
    expect(got).toEqual(['hi 0', 'hi 1', 'hi 2', 'hi 3', 'hi 4']);
    expect(back).toEqual(['hello ann']);
    await toBob.close();
    await toAnn.close();
  });

  it('falls back to the relay through the server when no direct path opens', async () => {
    server = await startEchoServer({ udp: { enableP2P: true } });
    const ann = await udpUser('ann');
    const bob = await udpUser('bob');
    const toBob = await ann.p2pConnect('bob', { direct: false });
    expect(toBob.mode).toBe('relay');
    const toAnn = await new Promise<P2PChannel>((resolve) => bob.on('p2p', resolve));
    const got: string[] = [];
    toAnn.on('message', (data) => got.push(data.toString()));
    toBob.send(Buffer.from('via the server'));
    await waitFor(() => got.length === 1, 2_000, 'relayed message');
    expect(got).toEqual(['via the server']);
  });

  it('refuses unknown peers, bad addresses, and everything when P2P is off', async () => {
    server = await startEchoServer({ udp: { enableP2P: true } });
    const ann = await udpUser('ann');
    await expect(ann.p2pConnect('nobody', { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_P2P_PEER_NOT_FOUND',
    });
    const bad = await ann.request(
      1,
      10,
      pack({ peer: 'bob', public: 'not an address', local: '1.2.3.4:5' }),
    );
    expect(bad.status).toBe(Status.Bad);
    await server.close();
    clients.splice(0);
    server = await startEchoServer();
    expect(server.isP2PEnabled()).toBe(false);
    const carl = await udpUser('carl');
    const off = await carl.request(
      1,
      10,
      pack({ peer: 'dan', public: '1.2.3.4:5', local: '1.2.3.4:5' }),
    );
    expect(unpack<{ code: string }>(off.payload).code).toBe('TIDEWIRE_ERR_UNKNOWN_COMMAND');
  });
});
