import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  describeFailure,
  extractExamples,
  findReadmes,
  runExample,
  startDemoServer,
} from '../examples.ts';

// Every js/ts block of every README runs from the repository root, as a user
// of a fresh clone would run it after `pnpm build`: saved under the root (so
// packages resolve from the root's node_modules, their built `dist/`) and
// started with node. Marked fragments are only checked to be marked.
const root = resolve(import.meta.dirname, '../../..');
const fileDir = join(root, 'node_modules', '.readme-examples');
const examples = findReadmes(root).flatMap((readme) => extractExamples(root, readme));

beforeAll(() => {
  const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 280_000,
  });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}\n${build.stderr}`);
});

afterAll(async () => {
  await rm(fileDir, { recursive: true, force: true });
});

describe('README examples', () => {
  test('there are examples to run in the package READMEs', () => {
    expect(examples.filter((e) => !e.fragment).length).toBeGreaterThanOrEqual(10);
  });

  for (const example of examples) {
    const title = `${example.readme} block ${example.index} (line ${example.line})`;
    test.skipIf(example.fragment)(title, async () => {
      const result = await runExample(example, {
        fileDir,
        cwd: root,
        timeoutMs: 45_000,
        startServer: () => startDemoServer(),
      });
      expect(result.ok, describeFailure(example, result)).toBe(true);
    });
  }
});
