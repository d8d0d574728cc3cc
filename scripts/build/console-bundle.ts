// Builds the web console's static files (issue 13): bundles
// coordinator/console/web/app.tsx with esbuild into DIR/assets/app.js (ESM,
// ES2020, minified, linked source map; Preact and everything else inside:
// the page loads nothing from outside), copies app.css to DIR/assets/ and
// index.html to DIR/.
// Usage: node --import tsx scripts/build/console-bundle.ts [--out DIR]   (default DIR: <repo>/dist/console)
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build, formatMessages, type Message } from 'esbuild';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WEB = path.join(REPO, 'coordinator/console/web');
const USAGE = 'usage: node --import tsx scripts/build/console-bundle.ts [--out DIR]';

/** Where the bundle goes when no --out is given. */
export const DEFAULT_CONSOLE_OUT = path.join(REPO, 'dist/console');

/** The files a console bundle consists of, relative to its directory. */
export const CONSOLE_FILES = ['index.html', 'assets/app.js', 'assets/app.js.map', 'assets/app.css'] as const;

/** The bundle failed to build; the message carries esbuild's diagnostics. */
export class ConsoleBundleError extends Error {
  override readonly name = 'ConsoleBundleError';
}

async function diagnostics(errors: readonly Message[]): Promise<string> {
  const lines = await formatMessages([...errors], { kind: 'error', color: false });
  return lines.join('').trim();
}

function isBuildFailure(e: unknown): e is { errors: Message[] } {
  return typeof e === 'object' && e !== null && Array.isArray((e as { errors?: unknown }).errors);
}

/**
 * Builds the console into `outDir` (created if needed; the files listed in
 * CONSOLE_FILES are overwritten). Returns their absolute paths and their
 * total size. Throws ConsoleBundleError when esbuild reports errors or a
 * source file is missing.
 */
export async function buildConsoleBundle(outDir: string): Promise<{ files: string[]; bytes: number }> {
  const out = path.resolve(outDir);
  const assets = path.join(out, 'assets');
  await mkdir(assets, { recursive: true });
  try {
    const result = await build({
      entryPoints: [path.join(WEB, 'app.tsx')],
      outfile: path.join(assets, 'app.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      sourcemap: 'linked',
      jsx: 'automatic',
      jsxImportSource: 'preact',
      tsconfig: path.join(WEB, 'tsconfig.json'),
      define: { 'process.env.NODE_ENV': '"production"' },
      legalComments: 'none',
      logLevel: 'silent',
    });
    if (result.errors.length) throw new ConsoleBundleError(`console bundle failed:\n${await diagnostics(result.errors)}`);
  } catch (e) {
    if (e instanceof ConsoleBundleError) throw e;
    if (isBuildFailure(e)) throw new ConsoleBundleError(`console bundle failed:\n${await diagnostics(e.errors)}`, { cause: e });
    throw new ConsoleBundleError(`console bundle failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  try {
    await copyFile(path.join(WEB, 'app.css'), path.join(assets, 'app.css'));
    await copyFile(path.join(WEB, 'index.html'), path.join(out, 'index.html'));
  } catch (e) {
    throw new ConsoleBundleError(`console bundle: copying the static files failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const files = CONSOLE_FILES.map((f) => path.join(out, f));
  const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
  return { files, bytes: sizes.reduce((s, v) => s + v, 0) };
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

async function main(argv: readonly string[]): Promise<number> {
  let outDir = DEFAULT_CONSOLE_OUT;
  try {
    const { values } = parseArgs({ args: [...argv], options: { out: { type: 'string' } }, strict: true, allowPositionals: false });
    if (values.out !== undefined) {
      if (!values.out) throw new Error('--out needs a directory');
      outDir = values.out;
    }
  } catch (e) {
    process.stderr.write(`console-bundle: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return 2;
  }
  try {
    const { files, bytes } = await buildConsoleBundle(outDir);
    const size = async (f: string): Promise<number> => (await stat(f)).size;
    const [html, js, map, css] = await Promise.all(files.map(size));
    const jsGzip = gzipSync(await readFile(files[1]!)).length;
    process.stdout.write(
      `console bundle in ${path.resolve(outDir)}: app.js ${kib(js!)} (gzip ${kib(jsGzip)}), app.js.map ${kib(map!)}, app.css ${kib(css!)}, index.html ${kib(html!)}; total ${kib(bytes)}\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`console-bundle: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

// Run as a script, not when imported (the server tests call buildConsoleBundle).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`console-bundle: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
