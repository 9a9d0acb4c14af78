/**
 * Compiles the peers servers (server.ts and bench/shared) to plain JavaScript
 * under bench/peers/.compiled, so each server process runs without a
 * TypeScript loader. Under `--import tsx` every process keeps tsx's loader
 * thread, whose garbage collections (memory-reducing full GCs seconds after
 * start, longer for servers that loaded more modules) ran inside the measured
 * window on the server's pinned CPU and were counted as the server's CPU.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

function compile(source: string, target: string): void {
  const output = ts.transpileModule(readFileSync(source, 'utf8'), {
    fileName: source,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      rewriteRelativeImportExtensions: true,
      verbatimModuleSyntax: true,
    },
    reportDiagnostics: true,
  });
  const errors = output.diagnostics ?? [];
  if (errors.length > 0) {
    const text = errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    throw new Error(`bench/peers: cannot compile ${source}: ${text.join('; ')}`);
  }
  writeFileSync(target, output.outputText);
}

/**
 * Writes `<peersDir>/.compiled/peers/server.js` and `.compiled/shared/*.js`
 * from this folder's server.ts and bench/shared (the layout keeps server.ts's
 * `../shared/` imports, and package names resolve from `<peersDir>`'s
 * node_modules and its checkout's root); returns the server's path.
 * `peersDir` is this folder, or bench/peers of another checkout (A/B runs).
 */
export function compileServer(peersDir: string): string {
  const out = join(peersDir, '.compiled');
  mkdirSync(join(out, 'peers'), { recursive: true });
  mkdirSync(join(out, 'shared'), { recursive: true });
  const shared = here('../shared');
  for (const file of readdirSync(shared)) {
    if (file.endsWith('.ts')) {
      compile(join(shared, file), join(out, 'shared', `${basename(file, '.ts')}.js`));
    }
  }
  const server = join(out, 'peers', 'server.js');
  compile(here('./server.ts'), server);
  return server;
}
