import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Every file under `dir` with its sha256, skipping entries `skip` names
 * (paths relative to `dir`): what a test compares to prove nothing outside
 * a daemon's own directories was written.
 */
export async function treeSnapshot(dir: string, skip: (relative: string) => boolean = () => false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (skip(child)) continue;
      if (entry.isDirectory()) await walk(child);
      else out.set(child, entry.isFile() ? createHash('sha256').update(await readFile(path.join(dir, child))).digest('hex') : entry.isSymbolicLink() ? 'symlink' : 'other');
    }
  };
  await walk('');
  return out;
}
