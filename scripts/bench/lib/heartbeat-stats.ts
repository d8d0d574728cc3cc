import { readFile } from 'node:fs/promises';
import type { FleetSlice } from './fleet-launcher.js';

/** Heartbeats the simulated agents made, how many were answered after more than 1 s, and the slowest (ms). */
export interface HeartbeatStats {
  total: number;
  late: number;
  maxMs: number;
}

/**
 * Sums what every fleet process wrote to STATE.heartbeats.json (cumulative
 * since it started; a fleet that has not written yet counts as zero).
 */
export async function heartbeatStats(fleet: readonly FleetSlice[]): Promise<HeartbeatStats> {
  const sum: HeartbeatStats = { total: 0, late: 0, maxMs: 0 };
  for (const slice of fleet) {
    const one = await readFile(`${slice.stateFile}.heartbeats.json`, 'utf8').then((t) => JSON.parse(t) as HeartbeatStats, () => undefined);
    if (!one) continue;
    sum.total += one.total;
    sum.late += one.late;
    sum.maxMs = Math.max(sum.maxMs, one.maxMs);
  }
  return sum;
}
