/**
 * Serves the demo page (built by Vite from web/ into dist/web) at `/` on the
 * HTTP port, so that `pnpm start` ends in "open http://127.0.0.1:7000/".
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/web, from src/ (tests) and from dist/ (the built server) alike. */
export const WEB_ROOT: string = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** Answers GET/HEAD for `/` and the page's files; false for anything else (or when the page is not built). */
export async function servePage(
  req: IncomingMessage,
  res: ServerResponse,
  root: string = WEB_ROOT,
): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const relative = pathname === '/' ? 'index.html' : pathname.slice(1);
  const file = normalize(join(root, relative));
  if (!file.startsWith(root + sep) || !(extname(file) in TYPES)) return false;
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return false;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)]!,
    'content-length': body.length,
    'cache-control': relative.startsWith('assets/')
      ? 'public, max-age=31536000, immutable'
      : 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
