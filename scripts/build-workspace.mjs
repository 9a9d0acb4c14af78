#!/usr/bin/env node
// Builds what `pnpm start`, `pnpm cluster:demo` or `pnpm bench` runs with
// turbo, saying so first: on a fresh clone this compiles every package and
// takes about a minute, and turbo's per-package lines show it moving. Later
// runs replay turbo's cache in a second or two.
// Usage: node scripts/build-workspace.mjs <turbo filter>
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2] ?? '@tidewire/server-app...';
console.log('building the workspace (the first build takes about a minute)...');
const build = spawnSync(
  'pnpm',
  ['exec', 'turbo', 'run', 'build', `--filter=${filter}`, '--output-logs=new-only'],
  { cwd: root, stdio: 'inherit' },
);
if (build.status !== 0) {
  console.error(
    build.error !== undefined
      ? `build-workspace: could not run turbo: ${build.error.message}`
      : 'build-workspace: the build failed (its errors are above)',
  );
  process.exit(1);
}
