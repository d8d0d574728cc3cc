import { readFile } from 'node:fs/promises';

/** Messages of the coordinator's pino log worth counting after a run. */
const COUNTED = [
  'agent registered', 'agent is down: no heartbeat', 'agent is back', 'deployment attempt started', 'node deployed',
  'deployment attempt failed; cleaning up on the host', 'node removed', 'operation failed',
] as const;

/** Counts of COUNTED messages (and of error-level lines) in the coordinator's JSON log. */
export async function summarizeCoordinatorLog(file: string): Promise<string> {
  const counts = new Map<string, number>();
  let errors = 0;
  for (const line of (await readFile(file, 'utf8').catch(() => '')).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; level?: number };
      if ((entry.level ?? 0) >= 50) errors++;
      if (entry.msg && (COUNTED as readonly string[]).includes(entry.msg)) counts.set(entry.msg, (counts.get(entry.msg) ?? 0) + 1);
    } catch {
      // a torn last line after SIGKILL
    }
  }
  return [...COUNTED.map((m) => `"${m}" ${counts.get(m) ?? 0}`), `error-level lines ${errors}`].join(', ');
}
