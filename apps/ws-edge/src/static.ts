import { readFile, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The web app's build (apps/web/dist) next to this app's dist/, unless WEB_DIR says otherwise. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** Serves the built browser app; false when the path is not one of its files. */
export function staticFiles(dir: string) {
  const root = path.resolve(dir);
  return async (urlPath: string, res: ServerResponse, head: boolean): Promise<boolean> => {
    let rel: string;
    try {
      rel = decodeURIComponent(urlPath === '/' ? '/index.html' : urlPath);
    } catch {
      return false;
    }
    const file = path.resolve(root, `.${rel}`);
    if (file !== root && !file.startsWith(root + path.sep)) return false; // no way out of the app's folder
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      if (rel !== '/index.html') return false;
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`The web app is not built (no ${file}). Run \`npm run build\`, or set WEB_DIR.\n`);
      return true;
    }
    // Read before the headers go out: the file can vanish or fail to read after stat (a rebuild or deploy
    // swapping files, EMFILE), and then the caller must still be able to answer with an error status.
    const body = head ? undefined : await readFile(file);
    // Vite fingerprints everything under assets/, so those may be cached for good; the rest must be fresh.
    const immutable = rel.startsWith('/assets/');
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body?.length ?? info.size,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    res.end(body);
    return true;
  };
}
