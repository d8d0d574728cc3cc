import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the built console, held in memory. */
export interface StaticAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Where the built console is: `dist/console` beside the installed code. From
 * the compiled coordinator (dist/coordinator/console/) that is two levels up;
 * from the sources run through tsx (coordinator/console/), ../../dist/console.
 */
export function defaultAssetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../console'), path.resolve(here, '../../dist/console')];
  return candidates.find((d) => existsSync(path.join(d, 'index.html'))) ?? candidates[1]!;
}

/**
 * The console's files (index.html and assets/), read once at start: the
 * bundle is small (tens of KB) and never changes under a running daemon.
 * Throws with what to do when the bundle was never built.
 */
export async function loadStaticAssets(dir: string): Promise<Map<string, StaticAsset>> {
  if (!existsSync(path.join(dir, 'index.html'))) {
    throw new Error(`the web console is not built: ${dir}/index.html is missing (run npm run build, or set console.assetsDir)`);
  }
  const assets = new Map<string, StaticAsset>();
  const add = async (urlPath: string, file: string): Promise<void> => {
    const type = TYPES[path.extname(file)];
    if (!type) return; // nothing else is served
    const body = await readFile(file);
    assets.set(urlPath, { body, contentType: type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  };
  await add('/', path.join(dir, 'index.html'));
  for (const entry of await readdir(path.join(dir, 'assets'), { withFileTypes: true }).catch(() => [])) {
    if (entry.isFile() && /^[A-Za-z0-9._-]+$/.test(entry.name)) await add(`/assets/${entry.name}`, path.join(dir, 'assets', entry.name));
  }
  return assets;
}
