import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CreateError, CreateErrorCode } from './errors.ts';
import { projectFiles } from './files.ts';
import type { CreateOptions } from './options.ts';

/** The @tidewire packages a generated project imports. */
export const PROJECT_PACKAGES: readonly string[] = [
  '@tidewire/client',
  '@tidewire/room',
  '@tidewire/server',
  '@tidewire/wire',
];

export interface CreatedProject {
  readonly targetDir: string;
  /** Written files, relative to `targetDir`, sorted. */
  readonly files: readonly string[];
  readonly dependencies: Readonly<Record<string, string>>;
}

/** Writes a new project into `options.targetDir` (created; refused when it exists and is not empty). */
export async function createProject(options: CreateOptions): Promise<CreatedProject> {
  if (existsSync(options.targetDir) && readdirSync(options.targetDir).length > 0) {
    throw new CreateError(
      CreateErrorCode.TargetNotEmpty,
      `${options.targetDir} exists and is not empty`,
    );
  }
  const dependencies =
    options.tarballs === undefined ? registryDependencies() : tarballDependencies(options.tarballs);
  const files = projectFiles({
    name: options.name,
    transport: options.transport,
    redis: options.redis,
    dependencies,
  });
  for (const [path, text] of files) {
    const file = join(options.targetDir, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  return { targetDir: options.targetDir, files: [...files.keys()].sort(), dependencies };
}

/** `^<this generator's version>`: the @tidewire packages are released together with it. */
function registryDependencies(): Record<string, string> {
  const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return Object.fromEntries(PROJECT_PACKAGES.map((name) => [name, `^${own.version}`]));
}

/**
 * `file:` specs of every @tidewire tarball in `folder` (`tidewire-<name>-<version>.tgz`):
 * the project's own packages and what they depend on, since none is on the registry.
 */
function tarballDependencies(folder: string): Record<string, string> {
  if (!existsSync(folder)) {
    throw new CreateError(CreateErrorCode.TarballMissing, `no folder ${folder}`);
  }
  const found = new Map<string, string>();
  for (const file of readdirSync(folder).sort()) {
    const match = /^tidewire-(.+)-\d+\.\d+\.\d+(?:-[\w.]+)?\.tgz$/.exec(file);
    if (match?.[1] !== undefined) found.set(`@tidewire/${match[1]}`, `file:${join(folder, file)}`);
  }
  const missing = PROJECT_PACKAGES.filter((name) => !found.has(name));
  if (missing.length > 0) {
    throw new CreateError(
      CreateErrorCode.TarballMissing,
      `${folder} lacks the tarballs of ${missing.join(', ')} (pnpm pack them first)`,
    );
  }
  return Object.fromEntries(found);
}
