import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CreateErrorCode, createProject, parseCreateArgs, projectFiles } from '../src/index.ts';

// Projects are generated under the workspace's node_modules, so that their
// @tidewire imports resolve to the workspace packages (sources, through the
// @tidewire/source condition). pnpm pack:check runs the same generated
// project from the packed tarballs with npm.
const packageDir = resolve(import.meta.dirname, '..');
const workDir = join(packageDir, 'node_modules', '.generated');
const cli = join(packageDir, 'src', 'cli.ts');

function run(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@tidewire/source', '--import', 'tsx', ...args],
      {
        cwd,
        env: { ...process.env, ...env, NODE_OPTIONS: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, out });
    });
  });
}

function fresh(name: string): string {
  const dir = join(workDir, name);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

beforeAll(() => {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('create-tidewire', () => {
  test('writes a WebSocket project with a page by default, whose own test passes', async () => {
    const dir = fresh('ws-game');
    const result = await run([cli, 'ws-game', '--no-install'], workDir);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('(ws)');
    expect(result.out).toContain('http://127.0.0.1:7000/');
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(manifest.scripts.prestart).toMatch(
      /^esbuild web\/main\.ts --bundle .*--outfile=dist\/main\.js$/,
    );
    expect(manifest.scripts.client).toBeUndefined();
    expect(manifest.devDependencies.esbuild).toBe('^0.28.0');
    expect(readFileSync(join(dir, 'src', 'game.ts'), 'utf8')).toContain('setupAsWSServer');
    const page = readFileSync(join(dir, 'web', 'main.ts'), 'utf8');
    expect(page).toContain("from '@tidewire/client/browser'");
    // The room numbers come from the browser-safe entry, not from copies.
    expect(page).toContain("from '@tidewire/room/protocol'");
    expect(page).not.toContain("from '@tidewire/room'");
    expect(readFileSync(join(dir, 'src', 'commands.ts'), 'utf8')).not.toMatch(/Room|ROOM/);
    expect(manifest.dependencies['@tidewire/room']).toMatch(/^\^\d+\.\d+\.\d+$/);
    expect(readFileSync(join(dir, 'web', 'index.html'), 'utf8')).toContain(
      '<title>ws-game</title>',
    );
    expect(existsSync(join(dir, 'src', 'client.ts'))).toBe(false);
    const generatedTest = await run(['--test', 'test/game.test.ts'], dir);
    expect(generatedTest.code, generatedTest.out).toBe(0);
    // The player over WebSocket, and the page at /.
    expect(generatedTest.out).toMatch(/# pass 2\b/);
  });

  test('writes a TCP project whose own test passes against the workspace packages', async () => {
    const dir = fresh('tcp-game');
    const result = await run([cli, 'tcp-game', '--transport', 'tcp', '--no-install'], workDir);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('npm start');
    expect(result.out).toContain('npm install'); // left to the user: --no-install
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(manifest.name).toBe('tcp-game');
    expect(manifest.scripts.start).toBe('tsx src/server.ts');
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      '@tidewire/client',
      '@tidewire/room',
      '@tidewire/server',
      '@tidewire/wire',
    ]);
    expect(manifest.dependencies['@tidewire/server']).toMatch(/^\^\d+\.\d+\.\d+$/);
    expect(existsSync(join(dir, 'compose.yaml'))).toBe(false);
    const generatedTest = await run(['--test', 'test/game.test.ts'], dir);
    expect(generatedTest.code, generatedTest.out).toBe(0);
    expect(generatedTest.out).toMatch(/# pass 1\b/);
  });

  test('writes a UDP project with a Redis cluster whose test passes too', async () => {
    const dir = fresh('udp-cluster');
    const result = await run(
      [cli, 'udp-cluster', '--transport', 'udp', '--redis', '--no-install'],
      workDir,
    );
    expect(result.code, result.out).toBe(0);
    expect(readFileSync(join(dir, 'src', 'game.ts'), 'utf8')).toContain('setupAsUDPServer');
    const cluster = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8'));
    expect(cluster.mesh).toEqual({ type: 'redis', url: 'redis://127.0.0.1:6379' });
    const compose = parseYaml(readFileSync(join(dir, 'compose.yaml'), 'utf8'));
    expect(Object.keys(compose.services)).toEqual(['redis', 'node-1', 'node-2']);
    expect(compose.services['node-2'].environment.TIDEWIRE_MESH_URL).toBe('redis://redis:6379');
    expect(compose.services['node-2'].ports).toEqual(['7001:7001', '7101:7101/udp']);
    const generatedTest = await run(['--test', 'test/game.test.ts'], dir);
    expect(generatedTest.code, generatedTest.out).toBe(0);
  });

  test('a WebSocket cluster publishes only the HTTP ports (WebSocket shares them)', async () => {
    const files = projectFiles({
      name: 'ws-cluster',
      transport: 'ws',
      redis: true,
      dependencies: {},
    });
    const cluster = JSON.parse(files.get('cluster.json')!);
    expect(Object.keys(cluster).sort()).toEqual([
      'http',
      'mesh',
      'publicEndpoint',
      'shutdownTimeout',
    ]);
    const compose = parseYaml(files.get('compose.yaml')!);
    expect(compose.services['node-2'].ports).toEqual(['7001:7001']);
    expect(compose.services['node-2'].environment).toEqual({
      TIDEWIRE_CONFIG: 'cluster.json',
      TIDEWIRE_MESH_URL: 'redis://redis:6379',
      HTTP_PORT: '7001',
    });
    expect(files.get('README.md')).toContain(
      'TIDEWIRE_CONFIG=cluster.json HTTP_PORT=7001 npm start',
    );
  });

  test('points the dependencies at local tarballs when asked (for testing)', async () => {
    const tarballs = join(workDir, 'tarballs');
    rmSync(tarballs, { recursive: true, force: true });
    mkdirSync(tarballs, { recursive: true });
    for (const name of ['client', 'room', 'server', 'wire', 'mesh']) {
      writeFileSync(join(tarballs, `tidewire-${name}-0.1.0.tgz`), '');
    }
    const dir = fresh('local');
    const project = await createProject({
      ...parseCreateArgs([dir], { CREATE_TIDEWIRE_TARBALLS: tarballs })!,
    });
    expect(project.dependencies['@tidewire/mesh']).toBe(
      `file:${join(tarballs, 'tidewire-mesh-0.1.0.tgz')}`,
    );
    expect(Object.keys(project.dependencies)).toHaveLength(5);

    rmSync(join(tarballs, 'tidewire-room-0.1.0.tgz'));
    await expect(
      createProject({ ...parseCreateArgs([fresh('local-2'), '--tarballs', tarballs])! }),
    ).rejects.toMatchObject({ code: CreateErrorCode.TarballMissing });
  });

  test('refuses a folder that is not empty, and bad options, with exit 2', async () => {
    const dir = fresh('taken');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const taken = await run([cli, 'taken'], workDir);
    expect(taken.code).toBe(2);
    expect(taken.out).toContain(CreateErrorCode.TargetNotEmpty);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');

    const badTransport = await run([cli, 'x', '--transport', 'carrier-pigeon'], workDir);
    expect(badTransport.code).toBe(2);
    expect(badTransport.out).toContain(
      '--transport must be one of ws, tcp, udp, got "carrier-pigeon" (TIDEWIRE_ERR_INVALID_ARGUMENT)',
    );
    expect(() => parseCreateArgs(['x', '--transport', 'WS'])).toThrow(
      expect.objectContaining({
        name: 'CreateError',
        code: CreateErrorCode.InvalidArgument,
        message: '--transport must be one of ws, tcp, udp, got "WS"',
      }),
    );
    expect(() => parseCreateArgs(['x', '--transport'])).toThrow(
      expect.objectContaining({ code: CreateErrorCode.InvalidArgument }),
    );
    expect(parseCreateArgs(['x'])?.transport).toBe('ws');
    expect(parseCreateArgs(['x', '--transport', 'udp'])?.transport).toBe('udp');
    expect(() => parseCreateArgs([])).toThrow(/name the folder/);
    expect(() => parseCreateArgs(['a', '--nope'])).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' }),
    );
    expect(parseCreateArgs(['--help'])).toBeNull();
    expect(parseCreateArgs(['x'])?.install).toBe(true);
    expect(parseCreateArgs(['x', '--no-install'])?.install).toBe(false);
  });
});
