import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** Hex sha256 of a text (UTF-8). */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Writes `text` to a temp file beside `file`, syncs it, and renames it over
 * `file` (keeping its mode), so readers see the old or the new text, never a
 * part. Throws the I/O error after removing the temp file.
 */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const mode = await stat(file).then((s) => s.mode & 0o7777, () => 0o644);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.chmod(mode); // open's mode is masked by the umask
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
