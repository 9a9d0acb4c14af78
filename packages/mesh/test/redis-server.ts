/**
 * Spawns a real `redis-server` on a free loopback port for tests.
 * Self-contained (node built-ins only) so other packages can import it by
 * relative path. `redisServerMissing()` tells why Redis tests cannot run.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server and starts a new, empty one on the same port. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
}

/** Null when `redis-server` runs here, else the reason it does not. */
export function redisServerMissing(): string | null {
  const result = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (result.error !== undefined) return `redis-server is not on PATH (${result.error.message})`;
  if (result.status !== 0) return `redis-server --version exited with ${result.status}`;
  return null;
}

/**
 * For `describe.skipIf`: true (skip) when redis-server is missing outside CI.
 * In CI (`CI=true`) it returns false so that `startRedis()` throws and the
 * tests fail instead of being skipped.
 */
export function skipWithoutRedis(): boolean {
  const missing = redisServerMissing();
  if (missing === null) return false;
  if (process.env.CI === 'true') return false;
  console.warn(`skipping Redis tests: ${missing}`);
  return true;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Sends PING over a raw socket; resolves true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

function spawnServer(port: number): ChildProcess {
  return spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if (await ping(port)) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || (child.signalCode !== null && child.signalCode !== 'SIGSTOP'))
    return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

export async function startRedis(options: { port?: number } = {}): Promise<RedisServer> {
  const missing = redisServerMissing();
  if (missing !== null) {
    throw new Error(`Redis tests need redis-server (apt-get install redis-server): ${missing}`);
  }
  const port = options.port ?? (await freePort());
  let child = spawnServer(port);
  child.on('error', () => {});
  await waitForPing(port, child, 5000);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => kill(child),
    pause: () => {
      child.kill('SIGSTOP');
    },
    resume: () => {
      child.kill('SIGCONT');
    },
    async restart() {
      await kill(child);
      child = spawnServer(port);
      child.on('error', () => {});
      await waitForPing(port, child, 5000);
    },
  };
}
