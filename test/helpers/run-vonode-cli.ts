import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoNode } from '../../scripts/testbed/lib/testbed-process.js';

/** The repository root (the CLI is started from there so tsx finds tsconfig.json). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What a CLI run produced. */
export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/** The environment without the operator's VONODE_* settings (so only the test's count), colour off. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VONODE_')));
  return { ...env, NO_COLOR: '1', ...extra };
}

/** Starts the real CLI (repoNode: from source, or the build scripts/test.sh made); stdout is a pipe, not a TTY. */
export function spawnVonode(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  const [node, ...argv] = repoNode('coordinator/cli/main.ts', args);
  return spawn(node!, argv, { cwd: ROOT, env: cleanEnv(env) }) as ChildProcessWithoutNullStreams;
}

/** Runs the real CLI to completion and collects its exit code and output. */
export function vonode(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnVonode(args, env);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
