// The built web console a benchmark's coordinator serves (dist/console, from
// `npm run build`): where it is, and whether it is there and current.
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from './bench-site.js';

/** Where the coordinator serves the console from. */
export const CONSOLE_BUNDLE = path.join(ROOT, 'dist/console');
/** The sources the bundle is built from. */
const WEB_SOURCES = path.join(ROOT, 'coordinator/console/web');

/**
 * Throws if dist/console was never built (the coordinator would refuse to
 * start its console); returns a warning when web sources are newer than the
 * bundle (the bench would measure the old page), else ''.
 */
export async function checkConsoleBundle(): Promise<string> {
  const app = path.join(CONSOLE_BUNDLE, 'assets/app.js');
  if (!existsSync(path.join(CONSOLE_BUNDLE, 'index.html')) || !existsSync(app)) {
    throw new Error(`the web console is not built (${CONSOLE_BUNDLE} has no index.html or assets/app.js): run \`npm run build\` once, then the bench again`);
  }
  const builtMs = (await stat(app)).mtimeMs;
  const sources = (await readdir(WEB_SOURCES, { recursive: true })).map((f) => path.join(WEB_SOURCES, f));
  const newer = (await Promise.all(sources.map(async (f) => {
    const st = await stat(f);
    return st.isFile() && st.mtimeMs > builtMs ? path.relative(ROOT, f) : '';
  }))).filter(Boolean);
  return newer.length ? `WARNING: ${newer.length} console source(s) changed after dist/console was built (${newer.slice(0, 3).join(', ')}…): run \`npm run build\` to measure them` : '';
}
