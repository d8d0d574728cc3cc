import path from 'node:path';
import type { BenchChild, BenchProcesses } from './bench-processes.js';
import { ROOT } from './bench-site.js';
import { simulatedHostName } from './simulated-agent.js';

/** One SIMULATED agent fleet process: which agents it runs and where it keeps their state. */
export interface FleetSlice {
  index: number;
  first: number;
  count: number;
  names: ReadonlySet<string>;
  stateFile: string;
  logFile: string;
  child?: BenchChild;
}

/** Splits `agents` simulated agents over `procs` fleet processes as evenly as possible. */
export function planFleet(agents: number, procs: number, dir: string): FleetSlice[] {
  const slices: FleetSlice[] = [];
  let first = 1;
  for (let i = 0; i < procs; i++) {
    const count = Math.floor(agents / procs) + (i < agents % procs ? 1 : 0);
    const names = new Set(Array.from({ length: count }, (_, k) => simulatedHostName(first + k)));
    slices.push({ index: i, first, count, names, stateFile: path.join(dir, `fleet-${i}.json`), logFile: path.join(dir, `fleet-${i}.log`) });
    first += count;
  }
  return slices;
}

/** Starts (or restarts, with the same state file) one simulated fleet process against the coordinator. */
export function startFleet(processes: BenchProcesses, slice: FleetSlice, coordinatorPort: number, pkiDir: string | undefined): BenchChild {
  const args = [
    '--coordinator', `127.0.0.1:${coordinatorPort}`, '--first', String(slice.first), '--count', String(slice.count), '--state', slice.stateFile,
    ...(pkiDir ? ['--tls-dir', pkiDir] : ['--insecure']),
  ];
  const script = path.join(ROOT, 'scripts/bench/lib/simulated-agent-fleet.ts');
  slice.child = processes.spawnNode(`simulated fleet ${slice.index}`, script, args, slice.logFile, { cwd: ROOT, stdoutPipe: true });
  return slice.child;
}
