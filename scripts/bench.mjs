#!/usr/bin/env node
// Runs every benchmark under bench/ (or the ones named: `pnpm bench wire tcp`),
// one after another, each in its own process. Packages are built first and
// benchmarks import their published form (dist/, compiled by tsc): that is what
// users run, and the dev-time TypeScript loader adds per-closure overhead that
// would distort the numbers. Only the benchmark file itself goes through tsx.
// A benchmark imports packages by name: list them in the root devDependencies.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');
const all = readdirSync(benchDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(benchDir, d.name, 'index.ts')))
  .map((d) => d.name)
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
const build = spawnSync(process.execPath, [join(root, 'scripts/build-workspace.mjs'), '//...'], {
  cwd: root,
  stdio: 'inherit',
});
if (build.status !== 0) {
  console.error('bench: the build failed');
  process.exit(1);
}
let failed = 0;
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench/${name} ===`);
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(benchDir, name, 'index.ts')],
    { cwd: root, stdio: 'inherit' },
  );
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
