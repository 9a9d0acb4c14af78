/**
 * `pnpm pack:check`: every public package as users get it.
 *
 * 1. builds the workspace and packs every public package with `pnpm pack`
 *    (what `pnpm publish` uploads: workspace ranges turned into versions,
 *    publishConfig applied), and shows what would ship with
 *    `pnpm publish --dry-run --no-git-checks`;
 * 2. runs @arethetypeswrong/cli on every tarball (ESM-only profile);
 * 3. for every package, installs its tarball (and the tarballs of the
 *    @tidewire packages it and its README example need) with npm into an
 *    empty project outside the workspace, checks that nothing there links
 *    back to the workspace, and runs its README examples (scripts/readme-examples)
 *    against the installed packages, with a demo server from the installed
 *    @tidewire/server where an example needs one;
 * 4. builds one-line imports of the browser entries (the client's `browser`
 *    condition, `@tidewire/room/protocol`) with Vite from the installed
 *    tarballs: no `node:` module may reach the bundles;
 * 5. runs the create-tidewire check (scripts/create-tidewire-check.ts).
 *
 * Nothing is published. Needs the npm registry for third-party dependencies.
 * `PACK_CHECK_KEEP=1` keeps the temporary folder. `PACK_CHECK_ONLY=create-tidewire`
 * runs steps 1 (without the dry runs) and 5 only, `PACK_CHECK_ONLY=browser` steps
 * 1 (without the dry runs) and 4.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

import { checkCreateTidewire } from './create-tidewire-check.ts';

import {
  DEMO_SERVER_PATH,
  describeFailure,
  extractExamples,
  runExample,
  startDemoServer,
} from './readme-examples/examples.ts';

const root = resolve(import.meta.dirname, '..');

interface PublicPackage {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly dependencies: readonly string[];
  tarball: string;
}

interface Step {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly detail: string;
}

const steps: Step[] = [];

const ONLY = process.env.PACK_CHECK_ONLY ?? '';
if (ONLY !== '' && ONLY !== 'create-tidewire' && ONLY !== 'browser') {
  throw new Error(`PACK_CHECK_ONLY: "create-tidewire" or "browser", got "${ONLY}"`);
}
const everything = ONLY === '';

function sh(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs = 300_000,
): { ok: boolean; out: string } {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env });
  const out = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? `\n${result.error.message}` : ''}`;
  return { ok: result.status === 0, out };
}

async function step(name: string, run: () => Promise<string> | string): Promise<boolean> {
  const started = performance.now();
  let ok = true;
  let detail: string;
  try {
    detail = await run();
  } catch (err) {
    ok = false;
    detail = err instanceof Error ? err.message : String(err);
  }
  const ms = Math.round(performance.now() - started);
  steps.push({ name, ok, ms, detail });
  console.log(
    `${ok ? 'ok  ' : 'FAIL'} ${name} (${(ms / 1000).toFixed(1)} s)${detail ? `: ${ok ? detail.split('\n')[0] : `\n${detail}`}` : ''}`,
  );
  return ok;
}

function publicPackages(): PublicPackage[] {
  const found: PublicPackage[] = [];
  for (const entry of readdirSync(join(root, 'packages')).sort()) {
    const manifestPath = join(root, 'packages', entry, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      name: string;
      version: string;
      private?: boolean;
      dependencies?: Record<string, string>;
    };
    if (manifest.private === true) continue;
    found.push({
      name: manifest.name,
      version: manifest.version,
      dir: join(root, 'packages', entry),
      dependencies: Object.keys(manifest.dependencies ?? {}),
      tarball: '',
    });
  }
  return found;
}

/** The package names plus every workspace package they depend on. */
function closure(names: Iterable<string>, byName: Map<string, PublicPackage>): PublicPackage[] {
  const seen = new Map<string, PublicPackage>();
  const visit = (name: string): void => {
    const pkg = byName.get(name);
    if (pkg === undefined || seen.has(name)) return;
    seen.set(name, pkg);
    for (const dep of pkg.dependencies) visit(dep);
  };
  for (const name of names) visit(name);
  return [...seen.values()];
}

/** No symlink out of the project and no `workspace:` range in what npm installed. */
function assertStandalone(project: string): void {
  const scope = join(project, 'node_modules', '@tidewire');
  if (!existsSync(scope)) return;
  for (const entry of readdirSync(scope)) {
    const dir = join(scope, entry);
    if (lstatSync(dir).isSymbolicLink())
      throw new Error(`${dir} is a link, not an installed package`);
    const manifest = readFileSync(join(dir, 'package.json'), 'utf8');
    if (manifest.includes('workspace:'))
      throw new Error(`${dir}/package.json keeps a workspace: range`);
  }
}

function emptyProject(base: string, name: string): string {
  const dir = join(base, name);
  rmSync(dir, { recursive: true, force: true });
  sh('mkdir', ['-p', dir], base);
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name, version: '0.0.0', private: true, type: 'module' }, null, 2)}\n`,
  );
  return dir;
}

function npmInstall(project: string, specs: readonly string[]): void {
  const result = sh(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs],
    project,
  );
  if (!result.ok) throw new Error(`npm install failed in ${project}:\n${result.out}`);
}

async function main(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'tidewire-pack-'));
  const tarballs = join(base, 'tarballs');
  const packages = publicPackages();
  const byName = new Map(packages.map((pkg) => [pkg.name, pkg]));
  console.log(`pack:check: ${packages.length} public packages, working in ${base}`);

  const built = await step('build (turbo)', () => {
    const build = sh('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], root);
    if (!build.ok) throw new Error(build.out);
    return '';
  });
  if (!built) return finish(base);

  for (const pkg of packages) {
    await step(`pack ${pkg.name}`, () => {
      const packed = sh('pnpm', ['pack', '--pack-destination', tarballs], pkg.dir);
      if (!packed.ok) throw new Error(packed.out);
      const file = packed.out
        .trim()
        .split('\n')
        .reverse()
        .find((line) => line.endsWith('.tgz'));
      if (file === undefined || !existsSync(file)) throw new Error(`no tarball in:\n${packed.out}`);
      pkg.tarball = file;
      const manifest = sh('tar', ['xzf', file, '-O', 'package/package.json'], tarballs).out;
      if (manifest.includes('workspace:'))
        throw new Error('the packed package.json keeps a workspace: range');
      if (manifest.includes('@tidewire/source'))
        throw new Error('the packed exports keep the @tidewire/source condition');
      return file.slice(tarballs.length + 1);
    });
    if (!everything) continue;
    await step(`publish --dry-run ${pkg.name}`, () => {
      const dry = sh('pnpm', ['publish', '--dry-run', '--no-git-checks'], pkg.dir);
      if (!dry.ok) throw new Error(dry.out);
      const files = dry.out
        .split('\n')
        .filter((line) => /^npm notice [\d.]+k?B\s/.test(line)).length;
      const size = /package size:\s*(.+)/.exec(dry.out)?.[1]?.trim() ?? '?';
      console.log(
        dry.out
          .split('\n')
          .filter((line) => line.startsWith('npm notice'))
          .map((l) => `    ${l}`)
          .join('\n'),
      );
      return `${files} files, ${size}`;
    });
    await step(`attw ${pkg.name}`, () => {
      const attw = sh(
        'pnpm',
        ['exec', 'attw', '--profile', 'esm-only', '--format', 'table-flipped', pkg.tarball],
        root,
      );
      if (!attw.ok) throw new Error(attw.out);
      return 'no problems (esm-only profile)';
    });
  }

  const serverPackage = byName.get('@tidewire/server');
  for (const pkg of everything ? packages : []) {
    if (pkg.tarball === '') continue;
    const readme = join(pkg.dir, 'README.md');
    const examples = existsSync(readme)
      ? extractExamples(root, readme).filter((e) => !e.fragment)
      : [];
    const wanted = new Set([pkg.name]);
    const thirdParty = new Set<string>();
    for (const example of examples) {
      for (const name of example.imports) {
        if (byName.has(name)) wanted.add(name);
        else thirdParty.add(name);
      }
      if (example.needsServer && serverPackage !== undefined) wanted.add(serverPackage.name);
      if (example.lang === 'ts') thirdParty.add('tsx'); // ts blocks run with node --import tsx
    }
    const install = closure(wanted, byName);
    const project = emptyProject(base, `use-${pkg.name.replace('@tidewire/', '')}`);
    const installed = await step(`npm install ${pkg.name} (${install.length} tarballs)`, () => {
      npmInstall(project, [...install.map((p) => p.tarball), ...thirdParty]);
      assertStandalone(project);
      return install.map((p) => p.name.replace('@tidewire/', '')).join(', ');
    });
    if (!installed) continue;
    for (const example of examples) {
      await step(`example ${example.readme} block ${example.index} (installed)`, async () => {
        const result = await runExample(example, {
          fileDir: project,
          cwd: project,
          timeoutMs: 45_000,
          startServer: () => {
            const script = join(project, 'demo-server.mjs');
            copyFileSync(DEMO_SERVER_PATH, script);
            return startDemoServer(script, { cwd: project });
          },
        });
        if (!result.ok) throw new Error(describeFailure(example, result));
        return `exit 0 in ${result.durationMs} ms`;
      });
    }
  }

  if (everything || ONLY === 'browser') {
    const project = join(base, 'browser');
    const installed = await step('npm install for the browser builds', () =>
      installForBrowser(project, byName),
    );
    for (const entry of installed ? BROWSER_ENTRIES : []) {
      await step(`vite build of ${entry.name}`, () => browserBuild(project, entry));
    }
  }
  if (ONLY !== 'browser') {
    await step('create-tidewire from its tarball', () =>
      checkCreateTidewire({
        base,
        tarballs: packages.map((p) => p.tarball).filter((t) => t !== ''),
      }),
    );
  }
  finish(base);
}

/** A browser-safe entry: the package that ships it and one line that uses it. */
interface BrowserEntry {
  readonly name: string;
  readonly packageName: string;
  readonly code: string;
}

const BROWSER_ENTRIES: readonly BrowserEntry[] = [
  {
    name: 'the client browser entry',
    packageName: '@tidewire/client',
    code: "import { connect } from '@tidewire/client';\nconsole.log(typeof connect);\n",
  },
  {
    name: '@tidewire/room/protocol',
    packageName: '@tidewire/room',
    code: "import { RoomCommand, RoomEvent } from '@tidewire/room/protocol';\nconsole.log(RoomCommand.Join, RoomEvent.MemberJoined);\n",
  },
];

/** One project with the tarballs of every browser entry's package and their dependencies. */
function installForBrowser(project: string, byName: Map<string, PublicPackage>): string {
  const names = BROWSER_ENTRIES.map((e) => e.packageName);
  for (const name of names) if (!byName.has(name)) throw new Error(`no ${name} package`);
  const install = closure(names, byName);
  emptyProject(dirname(project), basename(project));
  npmInstall(
    project,
    install.map((p) => p.tarball),
  );
  assertStandalone(project);
  return install.map((p) => p.name.replace('@tidewire/', '')).join(', ');
}

/** Vite builds a page of `entry`'s one line (in a folder of `project`, which has the packages). */
function browserBuild(project: string, entry: BrowserEntry): string {
  const page = join(project, entry.packageName.replace('@tidewire/', ''));
  mkdirSync(page, { recursive: true });
  writeFileSync(
    join(page, 'index.html'),
    '<!doctype html><script type="module" src="./main.js"></script>\n',
  );
  writeFileSync(join(page, 'main.js'), entry.code);
  const vite = sh(
    process.execPath,
    [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn', page],
    page,
  );
  if (!vite.ok) throw new Error(vite.out);
  // Vite stubs a node: built-in it meets with a warning and still succeeds.
  if (/externalized for browser compatibility/.test(vite.out)) {
    throw new Error(`the browser entry reaches node: built-ins:\n${vite.out}`);
  }
  const assets = join(page, 'dist', 'assets');
  const bundle = readdirSync(assets)
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(assets, f), 'utf8'))
    .join('\n');
  if (/\bnode:[a-z]/.test(bundle))
    throw new Error('the browser bundle still imports node: modules');
  return `bundle ${(bundle.length / 1024).toFixed(1)} KiB, no node: imports`;
}

function finish(base: string): void {
  const failed = steps.filter((s) => !s.ok);
  const total = steps.reduce((sum, s) => sum + s.ms, 0);
  console.log(
    `\npack:check: ${steps.length - failed.length} of ${steps.length} steps ok in ${(total / 1000).toFixed(1)} s`,
  );
  for (const s of failed) console.log(`  failed: ${s.name}`);
  if (process.env.PACK_CHECK_KEEP === '1') console.log(`kept ${base}`);
  else rmSync(base, { recursive: true, force: true });
  process.exitCode = failed.length === 0 ? 0 : 1;
}

await main();
