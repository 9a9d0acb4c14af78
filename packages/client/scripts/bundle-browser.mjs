#!/usr/bin/env node
// Bundles the browser entry (src/browser.ts with its dependencies: wire/portable,
// msgpackr) as a page would, minified, and prints its size min and min+gzip.
//   node scripts/bundle-browser.mjs [--out file.js]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The minified ESM bundle of the browser client, as a string. */
export async function bundleBrowserClient() {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../src/browser.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@tidewire/source', 'browser'],
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const code = await bundleBrowserClient();
  const out = process.argv.indexOf('--out');
  if (out > 0) writeFileSync(process.argv[out + 1], code);
  const min = Buffer.byteLength(code);
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(
    `@tidewire/client browser bundle: ${(min / 1024).toFixed(1)} KB min, ${(gz / 1024).toFixed(1)} KB min+gzip (limit 15 KB)`,
  );
  if (gz > 15 * 1024) process.exitCode = 1;
}
