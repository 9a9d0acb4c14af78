import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** The reference server run as a child process from its TypeScript sources. */
export const MAIN = new URL('../src/main.ts', import.meta.url).pathname;

export interface Running {
  child: ChildProcess;
  httpUrl: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Children still running: tests SIGKILL them in afterEach (killAll). */
const children = new Set<ChildProcess>();

export function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

export function run(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(
    process.execPath,
    ['--conditions=@tidewire/source', '--import', 'tsx', MAIN, ...args],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exit = once(child, 'exit').then(([code]) => {
    children.delete(child);
    return code as number | null;
  });
  return { child, httpUrl: '', stdout: () => out, stderr: () => err, exit };
}

export async function startServer(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Running> {
  const running = run(
    ['--http-port', '0', '--tcp-port', '0', '--udp-port', '0', '--log-level', 'warn', ...args],
    env,
  );
  const deadline = Date.now() + 20_000;
  while (!/ready: (http:\/\/\S+)/.test(running.stdout())) {
    if (running.child.exitCode !== null) throw new Error(`server exited: ${running.stderr()}`);
    if (Date.now() > deadline)
      throw new Error(`server not ready: ${running.stdout()} ${running.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  running.httpUrl = /ready: (http:\/\/\S+)/.exec(running.stdout())![1]!;
  return running;
}
