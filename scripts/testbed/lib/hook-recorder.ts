import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HookEvent } from '../../../coordinator/hooks/hook-event.js';

/**
 * The testbed's event hook: a shell script the coordinator runs for every
 * hook event (coordinator/hooks), keeping the JSON it reads on stdin as one
 * file per run in `eventsDir` (written under a dot name, then renamed, so a
 * reader never sees half of one). Returns the script's path.
 */
export async function writeHookRecorder(scriptPath: string, eventsDir: string): Promise<string> {
  await mkdir(eventsDir, { recursive: true });
  await writeFile(scriptPath, `#!/bin/sh
# vonode testbed hook: keeps the event it is given on stdin, one file per run.
set -eu
part='${eventsDir}/.event-'$$
cat > "$part"
mv "$part" '${eventsDir}/'"$(date +%s%N)-$$.json"
`);
  await chmod(scriptPath, 0o755);
  return scriptPath;
}

/** Every event the recorder kept, in the order the hooks ran. */
export async function readHookEvents(eventsDir: string): Promise<HookEvent[]> {
  const names = (await readdir(eventsDir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
  const byRun = names.map((n) => ({ n, at: BigInt(n.split('-')[0]!) })).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return Promise.all(byRun.map(async ({ n }) => JSON.parse(await readFile(path.join(eventsDir, n), 'utf8')) as HookEvent));
}
