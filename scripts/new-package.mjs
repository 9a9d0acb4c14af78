#!/usr/bin/env node
// Scaffolds a workspace package with the repository's conventions:
//   node scripts/new-package.mjs packages/<folder> <name> "<description>" [dep ...]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, name, description, ...deps] = process.argv.slice(2);
if (!dir || !name || !description) {
  console.error('usage: new-package.mjs <dir> <@tidewire/name> "<description>" [dep ...]');
  process.exit(2);
}
if (existsSync(join(dir, 'package.json'))) {
  console.error(`${dir}/package.json exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });
mkdirSync(join(dir, 'test'), { recursive: true });
const short = name.replace('@tidewire/', '');
const exportsMap = (source) => ({
  '.': {
    ...(source ? { '@tidewire/source': './src/index.ts' } : {}),
    types: './dist/index.d.ts',
    default: './dist/index.js',
  },
  './package.json': './package.json',
});
const dependencies = Object.fromEntries(
  deps.map((d) => (d.startsWith('@tidewire/') ? [d, 'workspace:^'] : d.split(/(?<=.)@/))),
);
const pkg = {
  name,
  version: '0.0.0',
  description,
  keywords: ['tidewire', 'game-server', 'realtime'],
  license: 'MIT',
  type: 'module',
  sideEffects: false,
  engines: { node: '>=20.19' },
  files: ['dist', 'README.md'],
  exports: exportsMap(true),
  publishConfig: { access: 'public', exports: exportsMap(false) },
  scripts: {
    build: 'tsc -p tsconfig.build.json',
    typecheck: 'tsc -p tsconfig.json',
    lint: 'publint --strict',
  },
  dependencies,
  repository: {
    type: 'git',
    url: 'git+https://github.com/tidewire/tidewire.git',
    directory: dir,
  },
};
const json = (value) => `${JSON.stringify(value, null, 2)}\n`;
writeFileSync(join(dir, 'package.json'), json(pkg));
writeFileSync(
  join(dir, 'tsconfig.json'),
  json({
    extends: '../../tsconfig.base.json',
    compilerOptions: { noEmit: true },
    include: ['src', 'test'],
  }),
);
writeFileSync(
  join(dir, 'tsconfig.build.json'),
  json({
    extends: '../../tsconfig.base.json',
    compilerOptions: { rootDir: 'src', outDir: 'dist', noEmit: false },
    include: ['src'],
  }),
);
writeFileSync(
  join(dir, 'vitest.config.ts'),
  `import { tidewireProject } from '../../scripts/vitest-project.ts';

export default tidewireProject('${short}');
`,
);
console.log(`created ${dir} (${name})`);
