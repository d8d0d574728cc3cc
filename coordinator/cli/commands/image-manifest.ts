import { constants, type Stats } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { writeAtomically } from '../../policy/atomic-write.js';
import type { CliContext } from '../context.js';
import { CliFailure, EXIT, UsageError } from '../errors.js';
import { formatBytes } from '../render/format.js';

/** Bytes read per call: the image is streamed once, never held whole. */
const CHUNK_BYTES = 1024 * 1024;
/** Files at least this large get a progress bar (on a terminal only). */
const BAR_MIN_BYTES = 64 * 1024 * 1024;
/** Read-only, and never blocking on a FIFO swapped in for the image (it is refused after fstat). */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** One written manifest, as `--json` prints it (`pieces` is the piece count; the digests are in `manifest`). */
export interface ImageManifestResult {
  file: string;
  manifest: string;
  sha256: string;
  sizeBytes: number;
  pieceBytes: number;
  pieces: number;
}

/**
 * The manifest format, the size syntax and the manifest suffix, imported
 * lazily (they load zod and the agent's image code) so other commands do not
 * pay for them.
 */
async function loadLib() {
  const [manifest, units, repository] = await Promise.all([
    import('../../../agent/images/pieces/piece-manifest.js'),
    import('../../../shared/config/units.js'),
    import('../../../agent/images/pieces/repository-source.js'),
  ]);
  return { ...manifest, parseSizeBytes: units.parseSizeBytes, formatSizeBytes: units.formatSizeBytes, MANIFEST_SUFFIX: repository.MANIFEST_SUFFIX };
}
type Lib = Awaited<ReturnType<typeof loadLib>>;

/** A problem with one file, already explained: reported, no manifest written for it, the other files go on. */
class FileProblem extends Error {}

/** The piece size from --piece-size (default 1MiB), checked as agents check a manifest. Throws UsageError. */
function pieceBytesOf(lib: Lib, value: string | undefined): number {
  if (value === undefined) return lib.DEFAULT_PIECE_BYTES;
  const n = lib.parseSizeBytes(value);
  if (n !== undefined && n >= lib.MIN_PIECE_BYTES && n <= lib.MAX_PIECE_BYTES && n % lib.MIN_PIECE_BYTES === 0) return n;
  const min = lib.formatSizeBytes(lib.MIN_PIECE_BYTES);
  throw new UsageError(
    `--piece-size takes a multiple of ${min} from ${min} to ${lib.formatSizeBytes(lib.MAX_PIECE_BYTES)} (like 4MiB or 256KiB), not "${value}"; no manifest was written`,
  );
}

/** Explains an I/O error on `file` (or on the manifest beside it) with what to do. */
function ioProblem(file: string, e: unknown, doing: string): FileProblem {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FileProblem(`${file}: no such file: check the path (publish the image first, then write its manifest)`);
  if (code === 'EACCES' || code === 'EPERM') return new FileProblem(`${file}: permission denied ${doing}: run as a user that can read the image and write in its directory`);
  return new FileProblem(`${file}: cannot ${doing}: ${(e as Error).message}`);
}

/** Why `info` is not an image file of a usable size, or undefined when it is. */
function refusal(lib: Lib, file: string, info: Stats, pieceBytes: number): string | undefined {
  if (!info.isFile()) {
    const what = info.isDirectory() ? 'a directory' : 'not a regular file';
    return `${file}: ${what}: pass the image file itself (e.g. /srv/vonode/appliances/bio.qcow2)`;
  }
  if (info.size === 0) return `${file}: empty: an image has at least 1 byte; publish the whole image, then run this again`;
  const count = lib.pieceCount(info.size, pieceBytes);
  if (count > lib.MAX_PIECES) {
    const least = Math.ceil(info.size / lib.MAX_PIECES / lib.MIN_PIECE_BYTES) * lib.MIN_PIECE_BYTES;
    if (least > lib.MAX_PIECE_BYTES) return `${file}: ${info.size} bytes is more than agents fetch piece-wise (${lib.formatSizeBytes(lib.MAX_PIECES * lib.MAX_PIECE_BYTES)})`;
    return `${file}: ${info.size} bytes in ${lib.formatSizeBytes(pieceBytes)} pieces make ${count} pieces, more than agents accept (${lib.MAX_PIECES}): pass --piece-size ${lib.formatSizeBytes(least)} or larger`;
  }
  return undefined;
}

/** Checks a file before any hashing, so a typo shows at once rather than after hashing the others. Throws FileProblem. */
async function precheck(lib: Lib, file: string, pieceBytes: number): Promise<void> {
  if (file.endsWith(lib.MANIFEST_SUFFIX)) {
    throw new FileProblem(`${file}: a piece manifest, not an image: pass the image (${file.slice(0, -lib.MANIFEST_SUFFIX.length)})`);
  }
  const info = await stat(file).catch((e: unknown) => {
    throw ioProblem(file, e, 'reading it');
  });
  const why = refusal(lib, file, info, pieceBytes);
  if (why) throw new FileProblem(why);
  const dir = path.dirname(file);
  await access(dir, constants.W_OK).catch(() => {
    throw new FileProblem(`${file}: cannot write ${file}${lib.MANIFEST_SUFFIX}: ${dir} is not writable for this user; run as the repository's owner`);
  });
}

/** A progress bar on stderr for a large file, only when stderr is a terminal. */
function startBar(ctx: CliContext, file: string, size: number): SingleBar | undefined {
  const stream = ctx.io.stderr;
  if (!stream || ctx.io.errIsTTY !== true || size < BAR_MIN_BYTES) return undefined;
  const bar = new SingleBar(
    {
      stream,
      format: ' {file} |{bar}| {percentage}% {done} of {size}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      // Ctrl-C is handled by the CLI (it aborts the signal; the loop stops the bar).
      gracefulExit: false,
    },
    Presets.shades_classic,
  );
  bar.start(size, 0, { file: path.basename(file), done: formatBytes(0), size: formatBytes(size) });
  return bar;
}

/** Streams `file` once through a PieceHasher and writes `file.pieces.json` atomically. Throws FileProblem, or CliFailure when interrupted. */
async function writeManifest(ctx: CliContext, lib: Lib, file: string, pieceBytes: number): Promise<ImageManifestResult> {
  const manifestPath = `${file}${lib.MANIFEST_SUFFIX}`;
  const handle = await open(file, OPEN_FLAGS).catch((e: unknown) => {
    throw ioProblem(file, e, 'reading it');
  });
  let hashed: ReturnType<InstanceType<Lib['PieceHasher']>['finish']>;
  try {
    const before = await handle.stat();
    const why = refusal(lib, file, before, pieceBytes);
    if (why) throw new FileProblem(why);
    const hasher = new lib.PieceHasher(pieceBytes);
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    const bar = startBar(ctx, file, before.size);
    let read = 0;
    try {
      for (;;) {
        if (ctx.io.signal.aborted) throw new CliFailure([`interrupted: no manifest written for ${file}`], EXIT.interrupted);
        const { bytesRead } = await handle.read(buf, 0, CHUNK_BYTES, read).catch((e: unknown) => {
          throw ioProblem(file, e, 'reading it');
        });
        if (bytesRead === 0) break;
        hasher.update(buf.subarray(0, bytesRead));
        read += bytesRead;
        bar?.update(read, { done: formatBytes(read) });
      }
    } finally {
      bar?.stop();
    }
    const after = await handle.stat();
    if (read !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      throw new FileProblem(`${file}: changed while it was read (${before.size} bytes at the start, ${read} read): run this again once the image is completely published`);
    }
    hashed = hasher.finish();
  } finally {
    await handle.close();
  }
  const { sha256, manifest } = hashed;
  const text = JSON.stringify(manifest);
  // The same check an agent makes, so no manifest it would refuse is ever written.
  lib.parseManifest(text, { sha256, sizeBytes: manifest.sizeBytes });
  await writeAtomically(manifestPath, `${text}\n`).catch((e: unknown) => {
    throw ioProblem(file, e, `writing ${manifestPath}`);
  });
  return { file, manifest: manifestPath, sha256, sizeBytes: manifest.sizeBytes, pieceBytes, pieces: manifest.pieces.length };
}

/** What the operator sees for one written manifest, ending with the line to paste into the VO policy. */
function renderResult(lib: Lib, r: ImageManifestResult): string[] {
  return [
    r.file,
    `  manifest    ${r.manifest}`,
    `  size        ${r.sizeBytes} bytes (${formatBytes(r.sizeBytes)})`,
    `  sha256      ${r.sha256}`,
    `  piece size  ${lib.formatSizeBytes(r.pieceBytes)}`,
    `  pieces      ${r.pieces}`,
    '  for the VO policy, beside this image\'s url:',
    `    sha256: ${r.sha256}`,
  ];
}

/** `vonode image-manifest FILE...`: offline, no coordinator connection. */
async function imageManifest(ctx: CliContext, files: readonly string[], opts: { pieceSize?: string; json?: boolean }): Promise<void> {
  const lib = await loadLib();
  const pieceBytes = pieceBytesOf(lib, opts.pieceSize);
  const unique = [...new Map(files.map((f) => [path.resolve(f), f])).values()];
  const failed: string[] = [];
  const report = (file: string, e: unknown): void => {
    if (!(e instanceof FileProblem)) throw e;
    failed.push(file);
    ctx.io.err(`vonode: ${e.message}\n`);
  };
  const ready: string[] = [];
  for (const file of unique) {
    try {
      await precheck(lib, file, pieceBytes);
      ready.push(file);
    } catch (e) {
      report(file, e);
    }
  }
  const results: ImageManifestResult[] = [];
  for (const file of ready) {
    try {
      const r = await writeManifest(ctx, lib, file, pieceBytes);
      results.push(r);
      if (!opts.json) ctx.print([...(results.length > 1 ? [''] : []), ...renderResult(lib, r)]);
    } catch (e) {
      report(file, e);
    }
  }
  if (opts.json) ctx.printJson(results);
  if (failed.length) {
    throw new CliFailure([`no manifest written for ${failed.length} of ${unique.length} file${unique.length === 1 ? '' : 's'}: ${failed.join(', ')}`]);
  }
}

/** Registers `vonode image-manifest FILE... [--piece-size SIZE] [--json]`. */
export function registerImageManifestCommand(program: Command, ctx: CliContext): void {
  program
    .command('image-manifest')
    .description("write FILE.pieces.json beside each published image (offline, no coordinator needed), so agents can fetch it piece-wise from each other; prints the sha256 for the VO policy")
    .argument('<file...>', 'image files as the repository serves them, e.g. /srv/vonode/appliances/bio.qcow2')
    .option('--piece-size <size>', 'piece size, a multiple of 64KiB from 64KiB to 64MiB (default 1MiB)')
    .option('--json', 'print a JSON array of { file, manifest, sha256, sizeBytes, pieceBytes, pieces (count) }')
    .action(async (files: string[], opts: { pieceSize?: string; json?: boolean }) => imageManifest(ctx, files, opts));
}
