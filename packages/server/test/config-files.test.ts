import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TidewireClient } from '@tidewire/client';
import { Status, unpack } from '@tidewire/wire';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createServer, Ok, type TidewireServer } from '../src/index.ts';
import { client, waitFor } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tidewire-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

let server: TidewireServer | undefined;
const clients: TidewireClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = undefined;
});

const ports = { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0 } };

describe('config files of the setupAs* calls', () => {
  for (const transport of ['tcp', 'udp'] as const) {
    it(`commands.stallTimeoutMs of a file given to setupAs${transport.toUpperCase()}Server drops a stalled user`, async () => {
      const path = configFile(`stall-${transport}.json`, {
        ...ports,
        commands: { stallWarningMs: 200, stallTimeoutMs: 1500 },
      });
      server = createServer({ env: {} });
      if (transport === 'tcp') await server.setupAsTCPServer(path);
      else await server.setupAsUDPServer(path);
      const reasons: string[] = [];
      server.handleCommand(2, 30, () => {}); // never calls next
      server.onDisconnect((reason) => reasons.push(reason));
      await server.start();
      const c = await client(server, `stuck-${transport}`, { transport });
      clients.push(c);
      const closed = new Promise<{ code: string }>((resolve) => c.once('close', resolve));
      const sent = performance.now();
      c.send(2, 30);
      expect(await closed).toMatchObject({ code: 'TIDEWIRE_ERR_USER_STALLED' });
      const elapsed = performance.now() - sent;
      // The file's 1.5 s, not the constructor's default (the 10 s connection TTL).
      expect(elapsed).toBeGreaterThanOrEqual(1400);
      expect(elapsed).toBeLessThan(5000);
      await waitFor(() => reasons.length > 0, 5000, 'the server-side disconnect');
      expect(reasons).toEqual(['TIDEWIRE_ERR_USER_STALLED']);
    });
  }

  it('commands.rateLimit: 2 of a file limits a user to two quick requests', async () => {
    const path = configFile('rate.json', { ...ports, commands: { rateLimit: 2 } });
    server = createServer({ env: {} });
    await server.setupAsTCPServer(path);
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
    await server.start();
    const c = await client(server, 'quick');
    clients.push(c);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => c.request(2, 1, Buffer.from('x'))),
    );
    const ok = answers.filter((a) => a.status === Status.Ok).length;
    expect(ok).toBe(2);
    const refused = answers.filter((a) => a.status === Status.Bad);
    expect(refused).toHaveLength(6);
    expect(unpack<{ code: string }>(refused[0]!.payload).code).toBe('TIDEWIRE_ERR_RATE_LIMITED');
  });

  it('setupAsTCPServer(f1) then setupAsUDPServer(f2) merges them; f2 wins on a key both set', async () => {
    const f1 = configFile('f1.json', {
      http: { port: 0 },
      tcp: { port: 0, connectionTTL: 42 },
      shutdownTimeout: 7,
      commands: { maxQueuedCommands: 100 },
    });
    const f2 = configFile('f2.json', {
      udp: { port: 0, connectionTTL: 20 },
      shutdownTimeout: 9,
      commands: { stallWarningMs: 300 },
    });
    server = createServer({ env: {} });
    await server.setupAsTCPServer(f1);
    await server.setupAsUDPServer(f2);
    expect(server.config.tcp.connectionTTL).toBe(42);
    expect(server.config.udp.connectionTTL).toBe(20);
    expect(server.config.shutdownTimeout).toBe(9);
    expect(server.config.commands.maxQueuedCommands).toBe(100);
    expect(server.config.commands.stallWarningMs).toBe(300);
    // stallTimeoutMs defaults from the merged tcp.connectionTTL.
    expect(server.config.commands.stallTimeoutMs).toBe(42_000);
    await server.start();
    expect(server.tcpPort).toBeGreaterThan(0);
    expect(server.udpPort).toBeGreaterThan(0);
  });

  it('a bad key in the second file is refused naming the files, and the first file stays', async () => {
    const f1 = configFile('good.json', { ...ports, tcp: { port: 0, connectionTTL: 42 } });
    const bad = configFile('bad.json', { udp: { port: 'x' } });
    server = createServer({ env: {} });
    await server.setupAsTCPServer(f1);
    await expect(server.setupAsUDPServer(bad)).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_INVALID_CONFIG',
      message: expect.stringContaining('bad.json'),
    });
    expect(server.config.tcp.connectionTTL).toBe(42);
    expect(server.isUDP()).toBe(false);
  });
});
