import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TidewireClient } from '@tidewire/client';
import { Status } from '@tidewire/wire';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, run, startServer } from './processes.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidewire-app-'));
});
afterEach(() => killAll());
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tidewire-server', () => {
  it('--help lists the options and exits 0', async () => {
    const running = run(['--help']);
    expect(await running.exit).toBe(0);
    expect(running.stdout()).toContain('--config <path>');
    expect(running.stdout()).toContain('TIDEWIRE_SHUTDOWN_TIMEOUT');
  });

  it('accepts a leading -- (pnpm 10 hands on the -- of `pnpm start -- --debug`)', async () => {
    const help = run(['--', '--help']);
    expect(await help.exit).toBe(0);
    expect(help.stdout()).toContain('--config <path>');

    const ports = ['--http-port', '0', '--tcp-port', '0', '--udp-port', '0', '--log-level', 'warn'];
    const server = run(['--', '--debug', ...ports]);
    const deadline = Date.now() + 20_000;
    while (!/ready: http:\/\/\S+/.test(server.stdout())) {
      if (server.child.exitCode !== null) throw new Error(`server exited: ${server.stderr()}`);
      if (Date.now() > deadline) throw new Error(`server not ready: ${server.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const endpointUrl = /ready: (http:\/\/\S+)/.exec(server.stdout())![1]!;
    const client = await connect({ endpointUrl, uid: 'dbg', keepAliveIntervalMs: 0 });
    try {
      // Debug command 905 (the user's dump) answers Ok only when --debug took effect.
      const answer = await client.request(0, 905);
      expect(answer.status).toBe(Status.Ok);
    } finally {
      await client.close();
    }
  });

  it('exits 2 on an unknown flag and 1 on a bad config, naming the problem', async () => {
    const flag = run(['--nope']);
    expect(await flag.exit).toBe(2);
    expect(flag.stderr()).toContain("'--nope'");

    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ tcp: { port: 'seven' } }));
    const config = run(['--config', file]);
    expect(await config.exit).toBe(1);
    expect(config.stderr()).toContain('tcp.port');
    expect(config.stderr()).toContain(file);

    const missing = run(['--config', join(dir, 'missing.json')]);
    expect(await missing.exit).toBe(1);
    expect(missing.stderr()).toContain('missing.json');

    const env = run([], { TIDEWIRE_SHUTDOWN_TIMEOUT: 'soon' });
    expect(await env.exit).toBe(1);
    expect(env.stderr()).toContain('TIDEWIRE_SHUTDOWN_TIMEOUT');
  });

  it('serves the demo commands and drains on SIGTERM: reconnect push, users leave, exit 0', async () => {
    const server = await startServer([], { TIDEWIRE_SHUTDOWN_TIMEOUT: '10' });
    const clients: TidewireClient[] = [];
    try {
      for (const uid of ['ann', 'ben']) {
        clients.push(await connect({ endpointUrl: server.httpUrl, uid, keepAliveIntervalMs: 0 }));
      }
      const echo = await clients[0]!.request(2, 1, Buffer.from('hello'));
      expect(echo.status).toBe(Status.Ok);
      expect(echo.payload.toString()).toBe('hello');
      const bad = await clients[0]!.request(2, 3);
      expect(bad.status).toBe(Status.Bad);

      const pushes: string[] = [];
      clients[1]!.on('push', (push) => pushes.push(push.payload.toString()));
      await clients[0]!.request(2, 2, Buffer.from('to all'));
      await new Promise((r) => setTimeout(r, 50));
      expect(pushes).toEqual(['to all']);

      // Drain: every client is told to reconnect elsewhere, finishes what it
      // was doing (every command it sends while draining is answered), then leaves.
      const told: string[] = [];
      const answered: number[] = [];
      for (const c of clients) {
        c.on('reconnect', () => {
          told.push('reconnect');
          void (async () => {
            const burst = await Promise.all(
              Array.from({ length: 20 }, (_, i) => c.request(2, 1, Buffer.from(`last ${i}`))),
            );
            answered.push(
              burst.filter((r, i) => r.status === Status.Ok && r.payload.toString() === `last ${i}`)
                .length,
            );
            await c.close();
          })();
        });
      }
      server.child.kill('SIGTERM');
      expect(await server.exit).toBe(0);
      expect(told).toEqual(['reconnect', 'reconnect']);
      expect(answered).toEqual([20, 20]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('a second SIGTERM forces the exit while users are still connected', async () => {
    const server = await startServer([], { TIDEWIRE_SHUTDOWN_TIMEOUT: '60' });
    const stubborn = await connect({
      endpointUrl: server.httpUrl,
      uid: 'stays',
      keepAliveIntervalMs: 0,
    });
    try {
      const reconnect = once(stubborn, 'reconnect');
      server.child.kill('SIGTERM');
      await reconnect;
      server.child.kill('SIGTERM');
      expect(await server.exit).toBe(1);
    } finally {
      await stubborn.close();
    }
  });

  it('one Ctrl-C delivered twice (terminal and pnpm) drains and exits 0; a later SIGINT forces the exit', async () => {
    const server = await startServer([], { TIDEWIRE_SHUTDOWN_TIMEOUT: '1' });
    const stubborn = await connect({
      endpointUrl: server.httpUrl,
      uid: 'stays',
      keepAliveIntervalMs: 0,
    });
    try {
      const reconnect = once(stubborn, 'reconnect');
      server.child.kill('SIGINT');
      // Apart enough not to merge into one pending signal, well inside 1 s.
      await new Promise((r) => setTimeout(r, 100));
      server.child.kill('SIGINT');
      await reconnect;
      // The user stays: the drain waits out its 1 s timeout, then exits 0.
      expect(await server.exit).toBe(0);
      expect(server.stderr() + server.stdout()).not.toContain('second signal');
    } finally {
      await stubborn.close();
    }

    const again = await startServer([], { TIDEWIRE_SHUTDOWN_TIMEOUT: '60' });
    const stays = await connect({
      endpointUrl: again.httpUrl,
      uid: 'stays2',
      keepAliveIntervalMs: 0,
    });
    try {
      const reconnect = once(stays, 'reconnect');
      again.child.kill('SIGINT');
      await reconnect;
      await new Promise((r) => setTimeout(r, 1100));
      again.child.kill('SIGINT');
      expect(await again.exit).toBe(1);
    } finally {
      await stays.close();
    }
  });

  it('names unknown keys and a file-descriptor limit too low for the configured capacity', async () => {
    const file = join(dir, 'unknown.json');
    await writeFile(file, JSON.stringify({ tcp: { prot: 7200 }, extra: 1 }));
    const unknown = run(['--config', file]);
    expect(await unknown.exit).toBe(1);
    expect(unknown.stderr()).toContain('unknown key "tcp.prot"');
    expect(unknown.stderr()).toContain('unknown key "extra"');

    const capacity = join(dir, 'capacity.json');
    await writeFile(capacity, JSON.stringify({ capacity: { maxUsers: 1_000_000 } }));
    const low = run([
      '--config',
      capacity,
      '--http-port',
      '0',
      '--tcp-port',
      '0',
      '--udp-port',
      '0',
    ]);
    expect(await low.exit).toBe(1);
    expect(low.stderr()).toMatch(
      /open file limit \(\d+\) is too low for capacity.maxUsers 1000000/,
    );
  });

  it('serves /healthcheck, /ready (503 once OFFLINE) and Prometheus /metrics that move with traffic', async () => {
    const server = await startServer(['--debug'], { TIDEWIRE_SHUTDOWN_TIMEOUT: '5' });
    const c = await connect({
      endpointUrl: server.httpUrl,
      uid: 'metrics',
      keepAliveIntervalMs: 0,
    });
    try {
      expect((await fetch(`${server.httpUrl}/healthcheck`)).status).toBe(200);
      expect((await fetch(`${server.httpUrl}/ready`)).status).toBe(200);
      const counter = async (): Promise<number> => {
        const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
        const line = text
          .split('\n')
          .find((l) => l.startsWith('tidewire_commands_total{ver="2",cmd="1",ok="true"}'));
        return line === undefined ? 0 : Number(line.split(' ').pop());
      };
      const before = await counter();
      for (let i = 0; i < 5; i++) await c.request(2, 1, Buffer.from('x'));
      expect((await counter()) - before).toBe(5);
      const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
      // Prometheus text format: HELP/TYPE comments and "name{labels} value" samples.
      for (const line of text.split('\n').filter((l) => l !== '')) {
        expect(line).toMatch(
          /^(# (HELP|TYPE) \w+ .+|[a-zA-Z_:][\w:]*(\{[^}]*\})? -?[\d.e+-]+|[a-zA-Z_:][\w:]*(\{[^}]*\})? ([Nn]a[Nn]|\+Inf|-Inf))$/,
        );
      }
      expect(text).toMatch(/^tidewire_ccu 1$/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
      // Debug 902 sets OFFLINE: /ready fails, /healthcheck does not.
      c.send(0, 902);
      await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`${server.httpUrl}/ready`)).status).toBe(503);
      expect((await fetch(`${server.httpUrl}/healthcheck`)).status).toBe(200);
    } finally {
      await c.close();
      server.child.kill('SIGTERM');
      expect(await server.exit).toBe(0);
    }
  });

  it('an unreachable Redis mesh is a clear start-up error, fast', async () => {
    const started = Date.now();
    const down = run(['--http-port', '0', '--tcp-port', '0', '--udp-port', '0'], {
      TIDEWIRE_MESH_URL: 'redis://127.0.0.1:1',
    });
    expect(await down.exit).toBe(1);
    expect(down.stderr()).toMatch(/cannot reach redis at redis:\/\/127.0.0.1:1/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a port in use is a clear start-up error', async () => {
    const first = await startServer();
    try {
      const httpPort = new URL(first.httpUrl).port;
      const second = run(['--http-port', httpPort, '--tcp-port', '0', '--udp-port', '0']);
      expect(await second.exit).toBe(1);
      expect(second.stderr()).toMatch(/in use|EADDRINUSE/);
    } finally {
      first.child.kill('SIGTERM');
      await first.exit;
    }
  });
});
