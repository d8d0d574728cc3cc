// One deployment's Table-2 figures from the agent's phase marks, shared by the
// agent-level benchmarks (agent-deploy, paper-table2): each prints them its own
// way and writes them to --json with vmFiguresJson.
import type { PhaseMark } from '../../../shared/phases.js';
import { finiteOrNull } from './bench-json.js';

/** The machine phases of the paper's Table 2, in its column order. */
export const TABLE2_PHASES = ['CR', 'PT', 'DA', 'VMB', 'VMR'] as const;

/** One VM's figures (seconds; NaN where the agent sent no such mark). */
export interface VmFigures {
  hostname: string;
  phaseS: Record<(typeof TABLE2_PHASES)[number], number>;
  /** First mark to last (CR start to VMR end). */
  totalS: number;
  /** Wait in the host's deployment queue before PT starts: in the total, in no phase. */
  queuedS: number;
  /** PT's `bytes` detail as the agent sent it (downloaded bytes), undefined if absent. */
  ptBytes: string | undefined;
  /** PT found the image in the cache. */
  cacheHit: boolean;
}

/** The figures of one deployment from its phase marks; throws if `marks` is empty. */
export function vmFigures(hostname: string, marks: readonly PhaseMark[]): VmFigures {
  if (marks.length === 0) throw new Error(`${hostname}: the agent sent no phase marks`);
  const d = (p: string): number => (marks.find((m) => m.phase === p && m.edge === 'end')?.durationMs ?? NaN) / 1000;
  const pt = marks.find((m) => m.phase === 'PT' && m.edge === 'end')?.details ?? {};
  return {
    hostname,
    phaseS: { CR: d('CR'), PT: d('PT'), DA: d('DA'), VMB: d('VMB'), VMR: d('VMR') },
    totalS: (marks[marks.length - 1]!.monotonicMs - marks[0]!.monotonicMs) / 1000,
    queuedS: Number(marks.find((m) => m.phase === 'PT' && m.edge === 'start')?.details['queue_wait_ms'] ?? NaN) / 1000,
    ptBytes: pt['bytes'],
    cacheHit: pt['cache_hit'] === 'true',
  };
}

/**
 * A batch's figures for --json, one array per column, index i = VM #i+1:
 * hostnames, cr_s, pt_s, da_s, vmb_s, vmr_s, total_s, queued_s, pt_bytes
 * (numbers; null where not measured) and pt_cache_hit.
 */
export function vmFiguresJson(perVm: readonly VmFigures[]): Record<string, unknown[]> {
  const each = (pick: (f: VmFigures) => number): Array<number | null> => perVm.map((f) => finiteOrNull(pick(f)));
  return {
    hostnames: perVm.map((f) => f.hostname),
    ...Object.fromEntries(TABLE2_PHASES.map((p) => [`${p.toLowerCase()}_s`, each((f) => f.phaseS[p])])),
    total_s: each((f) => f.totalS),
    queued_s: each((f) => f.queuedS),
    pt_bytes: each((f) => (f.ptBytes === undefined ? NaN : Number(f.ptBytes))),
    pt_cache_hit: perVm.map((f) => f.cacheHit),
  };
}
