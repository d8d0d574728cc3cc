import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { repoNode } from '../../scripts/testbed/lib/testbed-process.js';
import { cleanEnv, ROOT, type CliResult } from './run-vonode-cli.js';

/** Runs a daemon entry point (repoNode: from source, or the build scripts/test.sh made) to completion, e.g. with --check. */
export function runDaemonEntry(entry: 'coordinator/main.ts' | 'agent/main.ts', args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const [node, ...argv] = repoNode(entry, args);
    execFile(node!, argv, { cwd: ROOT, env: cleanEnv(), timeout: 60_000 }, (err, out, errText) => {
      const code = err ? ((err as { code?: number | string }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : null, out, err: errText });
    });
  });
}

/** Every path under `dir` (relative, sorted), to show that a run created nothing. */
export async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((e) => path.normalize(e)).sort();
}
