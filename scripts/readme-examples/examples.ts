/**
 * README examples: extraction and running, shared by the workspace test
 * (`pnpm test`, against the built packages of the workspace) and by the pack
 * check (`pnpm pack:check`, against the packed tarballs installed with npm).
 *
 * Every ```js / ```ts block of a README is an example that must run as a
 * user would run it: saved as a file and started with `node`, it exits 0 in
 * bounded time. An HTML comment on the nearest non-blank line above the fence
 * changes that:
 *
 *   <!-- fragment -->      not a whole program: extracted, never run
 *   <!-- needs-server -->  runs with a demo server started first, its session
 *                          endpoint in TIDEWIRE_ENDPOINT_URL
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FRAGMENT_MARKER = '<!-- fragment -->';
export const NEEDS_SERVER_MARKER = '<!-- needs-server -->';
/** The env var a `needs-server` example reads its session endpoint from. */
export const ENDPOINT_ENV = 'TIDEWIRE_ENDPOINT_URL';
/** The demo server (plain JS, on `@tidewire/server` only) started for `needs-server` examples. */
export const DEMO_SERVER_PATH: string = join(
  dirname(fileURLToPath(import.meta.url)),
  'demo-server.mjs',
);

export interface ReadmeExample {
  /** README path relative to the repository root. */
  readonly readme: string;
  /** Directory of the README relative to the root ('' for the root README). */
  readonly dir: string;
  /** The `name` of the package.json beside the README, if any. */
  readonly packageName: string | null;
  /** 1-based position among the README's js/ts blocks. */
  readonly index: number;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: 'js' | 'ts';
  readonly code: string;
  readonly fragment: boolean;
  readonly needsServer: boolean;
  /** Bare package names the block imports (`@scope/name` or `name`), node: builtins left out. */
  readonly imports: readonly string[];
}

const FENCE_OPEN = /^```(js|javascript|mjs|ts|typescript)\s*$/;

/** README.md of the root, of every packages/* and of every apps/* folder. */
export function findReadmes(root: string): string[] {
  const found = [join(root, 'README.md')];
  for (const group of ['packages', 'apps']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const readme = join(base, entry.name, 'README.md');
      if (entry.isDirectory() && existsSync(readme)) found.push(readme);
    }
  }
  return found.filter((file) => existsSync(file));
}

/** Every js/ts block of one README, fragments included (marked). */
export function extractExamples(root: string, readmePath: string): ReadmeExample[] {
  const lines = readFileSync(readmePath, 'utf8').split('\n');
  const dir = dirname(readmePath);
  const manifest = join(dir, 'package.json');
  const packageName = existsSync(manifest)
    ? ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name ?? null)
    : null;
  const examples: ReadmeExample[] = [];
  let i = 0;
  while (i < lines.length) {
    const open = FENCE_OPEN.exec(lines[i] ?? '');
    if (open === null) {
      i++;
      continue;
    }
    const start = i;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    if (end >= lines.length) throw new Error(`${readmePath}:${start + 1}: unclosed code fence`);
    let above = start - 1;
    while (above >= 0 && (lines[above] ?? '').trim() === '') above--;
    const marker = above >= 0 ? (lines[above] ?? '').trim() : '';
    const code = `${lines.slice(start + 1, end).join('\n')}\n`;
    examples.push({
      readme: relative(root, readmePath),
      dir: relative(root, dir),
      packageName,
      index: examples.length + 1,
      line: start + 1,
      lang: open[1]?.startsWith('t') === true ? 'ts' : 'js',
      code,
      fragment: marker === FRAGMENT_MARKER,
      needsServer: marker === NEEDS_SERVER_MARKER,
      imports: importedPackages(code),
    });
    i = end + 1;
  }
  return examples;
}

/** Bare package names imported by `import … from '…'`, `import '…'` or `import('…')`. */
export function importedPackages(code: string): string[] {
  const names = new Set<string>();
  const statics = /^\s*(?:import|export)\s+(?:[^'"();]*?\s*from\s*)?['"]([^'"]+)['"]/gm;
  const dynamics = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of [...code.matchAll(statics), ...code.matchAll(dynamics)]) {
    const spec = match[1] ?? '';
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) continue;
    const parts = spec.split('/');
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec));
  }
  return [...names].sort();
}

/** A short, unique, file-system-safe name: `packages-mesh-2`. */
export function exampleName(example: ReadmeExample): string {
  const place = example.dir === '' ? 'root' : example.dir.replaceAll(/[\\/]/g, '-');
  return `${place}-${example.index}`;
}

export interface RunOptions {
  /** Where the example file is written; packages resolve from here upwards. */
  readonly fileDir: string;
  /** Working directory of the example (a user's shell). */
  readonly cwd: string;
  /** Kills the example (SIGKILL) past this; the result says it timed out. Default 30 s. */
  readonly timeoutMs?: number;
  /** How a `needs-server` example gets its server; required when one does. */
  readonly startServer?: () => Promise<DemoServer>;
  /** Node arguments for ts blocks (a TypeScript loader). Default `['--import', 'tsx']`. */
  readonly tsNodeArgs?: readonly string[];
}

export interface RunResult {
  readonly name: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly ok: boolean;
}

/** Writes the example to a file and runs it with `node`, a demo server first if it needs one. */
export async function runExample(example: ReadmeExample, options: RunOptions): Promise<RunResult> {
  const name = exampleName(example);
  await mkdir(options.fileDir, { recursive: true });
  const file = join(options.fileDir, `${name}.${example.lang === 'ts' ? 'mts' : 'mjs'}`);
  await writeFile(file, example.code);
  let server: DemoServer | null = null;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TIDEWIRE_MESH_URL;
  delete env.NODE_OPTIONS;
  if (example.needsServer) {
    if (options.startServer === undefined)
      throw new Error(`${name} needs a server and none was given`);
    server = await options.startServer();
    env[ENDPOINT_ENV] = server.endpointUrl;
  }
  try {
    const args = example.lang === 'ts' ? [...(options.tsNodeArgs ?? ['--import', 'tsx'])] : [];
    const result = await runNode([...args, file], {
      cwd: options.cwd,
      env,
      timeoutMs: options.timeoutMs ?? 30_000,
    });
    return { name, ...result, ok: result.exitCode === 0 && !result.timedOut };
  } finally {
    await server?.stop();
  }
}

interface NodeRun {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

function runNode(
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<NodeRun> {
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        timedOut,
        stdout,
        stderr,
        durationMs: Math.round(performance.now() - started),
      });
    });
  });
}

export interface DemoServer {
  readonly endpointUrl: string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process exited. */
  stop(): Promise<void>;
}

/**
 * Starts `demo-server.mjs` (copied to `scriptPath` when it must resolve
 * `@tidewire/server` from elsewhere) and waits for the line that names its
 * session endpoint. Free ports; bounded by `timeoutMs`.
 */
export function startDemoServer(
  scriptPath: string = DEMO_SERVER_PATH,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<DemoServer> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TIDEWIRE_MESH_URL;
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [scriptPath], {
    cwd: options.cwd ?? dirname(scriptPath),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(kill);
  };
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      void stop().then(() =>
        reject(new Error(`demo server ${basename(scriptPath)}: ${why}\n${output}`)),
      );
    };
    const timer = setTimeout(() => fail('no endpoint line in time'), options.timeoutMs ?? 15_000);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /"endpointUrl":"([^"]+)"/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ endpointUrl: match[1], stop });
      }
    });
    child.once('close', (code) => fail(`exited with ${code} before it was ready`));
  });
}

/** Why a run failed, for an assertion message. */
export function describeFailure(example: ReadmeExample, result: RunResult): string {
  const how = result.timedOut
    ? 'did not exit in time (killed)'
    : `exited with ${result.exitCode ?? result.signal}`;
  return [
    `${example.readme}:${example.line} (block ${example.index}) ${how} after ${result.durationMs} ms`,
    `--- stdout\n${result.stdout.trimEnd()}`,
    `--- stderr\n${result.stderr.trimEnd()}`,
  ].join('\n');
}
