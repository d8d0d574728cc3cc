import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseLdif, type ParsedEntry } from './ldif-parser.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const SCRIPT = path.join(ROOT, 'scripts/testbed/bdii.sh');

/** A real BDII (slapd + bdii-update) started with scripts/testbed/bdii.sh under a private dir. */
export interface RunningBdii {
  dir: string;
  uri: string;
  slapdPid: number;
  updaterPid: number;
}

/** Options of {@link startBdii}. */
export interface BdiiOptions {
  port: number;
  /** Seconds between update cycles. */
  breatheS: number;
  /** The provider command BDII runs every cycle (a shell command line). */
  provider: string;
}

/** Starts a BDII under `dir` and waits for its first update cycle. Throws with the script's stderr. */
export async function startBdii(dir: string, o: BdiiOptions): Promise<RunningBdii> {
  const args = [SCRIPT, 'start', dir, '--port', String(o.port), '--breathe', String(o.breatheS), '--provider', o.provider, '--log-level', 'WARNING'];
  const { stdout } = await run('bash', args, { timeout: 600_000 });
  const kv = Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { dir, uri: kv['uri']!, slapdPid: Number(kv['slapd_pid']), updaterPid: Number(kv['updater_pid']) };
}

/** Stops it with the script (by the PIDs in its dir), then makes sure both PIDs are gone. */
export async function stopBdii(bdii: RunningBdii): Promise<void> {
  await run('bash', [SCRIPT, 'stop', bdii.dir], { timeout: 60_000 }).catch(() => undefined);
  for (const pid of [bdii.updaterPid, bdii.slapdPid]) {
    try {
      process.kill(pid, 'SIGKILL'); // only if the script could not stop it
    } catch {
      // already gone: the normal case
    }
  }
}

/** `ldapsearch -x -LLL` against the BDII, parsed; an empty list when the base does not exist (yet). */
export async function ldapsearch(uri: string, base: string, filter: string, attrs: readonly string[] = []): Promise<ParsedEntry[]> {
  try {
    const { stdout } = await run('ldapsearch', ['-x', '-LLL', '-o', 'ldif-wrap=no', '-H', uri, '-b', base, filter, ...attrs], { timeout: 10_000 });
    return parseLdif(stdout);
  } catch (e) {
    if ((e as { code?: unknown }).code === 32) return []; // noSuchObject
    throw e;
  }
}
