import { OperationKind, OperationState, type OperationTiming } from '../../../shared/gen/vonode/v1/coordinator.js';
import { DEPLOY_PHASES, REMOVE_PHASES } from '../../../shared/phases.js';
import { formatSeconds } from './format.js';
import { isKnownPhase, phaseName, phaseOrder } from './phase-names.js';
import { renderTable, type Column } from './table.js';

/** Which of the paper's tables: Table 2 (deployments) or Table 3 (drains and removals). */
export type TimingKind = 'deploy' | 'removal';

/** One operation's row: identity and per-phase durations in ms. */
export interface TimingRow {
  operationId: string;
  node: string;
  host: string;
  vo: string;
  /** `deploy`, `drain` or `remove`. */
  kind: string;
  /** Only succeeded rows count in the mean and median. */
  succeeded: boolean;
  /** `succeeded`, `failed`, `running` … */
  state: string;
  /** Duration in ms per phase name; a phase that did not run is absent. */
  phases: ReadonlyMap<string, number>;
  totalMs: number;
}

/** The table before formatting: columns, rows and the summary rows. */
export interface TimingTable {
  kind: TimingKind;
  /** Phase columns in pipeline order. */
  phases: string[];
  rows: TimingRow[];
  /** Mean per phase name and `Total`, over succeeded rows having it; NaN where none. */
  mean: Record<string, number>;
  /** Median likewise. */
  median: Record<string, number>;
  /** How many rows the statistics cover. */
  statsOver: number;
}

/** Arithmetic mean; NaN for no values. */
export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : NaN;
}

/** Median (mean of the middle two for an even count); NaN for no values. */
export function median(values: readonly number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const KIND_OF: Partial<Record<OperationKind, string>> = {
  [OperationKind.OPERATION_KIND_DEPLOY]: 'deploy',
  [OperationKind.OPERATION_KIND_DRAIN]: 'drain',
  [OperationKind.OPERATION_KIND_REMOVE]: 'remove',
};

const STATE_OF: Partial<Record<OperationState, string>> = {
  [OperationState.OPERATION_STATE_QUEUED]: 'queued',
  [OperationState.OPERATION_STATE_RUNNING]: 'running',
  [OperationState.OPERATION_STATE_SUCCEEDED]: 'succeeded',
  [OperationState.OPERATION_STATE_FAILED]: 'failed',
  [OperationState.OPERATION_STATE_RETRYING]: 'retrying',
};

/**
 * The operations of one kind as rows. A phase reported twice (a retried
 * attempt) keeps its last duration: that is the attempt that got further.
 * Total is the coordinator's `total_ms`, or the sum of the phases when unset.
 */
export function timingRows(operations: readonly OperationTiming[], kind: TimingKind): TimingRow[] {
  const wanted = kind === 'deploy' ? ['deploy'] : ['drain', 'remove'];
  const rows: TimingRow[] = [];
  for (const t of operations) {
    const op = t.operation;
    const opKind = op ? KIND_OF[op.kind] : undefined;
    if (!op || !opKind || !wanted.includes(opKind)) continue;
    const phases = new Map<string, number>();
    for (const p of t.phases) if (isKnownPhase(p.phase)) phases.set(phaseName(p.phase), p.durationMs);
    const sum = [...phases.values()].reduce((s, v) => s + v, 0);
    rows.push({
      operationId: op.id,
      node: op.node || '-',
      host: op.host || '-',
      vo: op.vo || '-',
      kind: opKind,
      succeeded: op.state === OperationState.OPERATION_STATE_SUCCEEDED,
      state: STATE_OF[op.state] ?? '-',
      phases,
      totalMs: t.totalMs > 0 ? t.totalMs : sum,
    });
  }
  return rows;
}

/**
 * Table 2 (deploy: CR PT DA VMB VMR SR PUB GW) or Table 3 (removal: RC VMD
 * DHR DKR, then any batch-system/infosys phase the coordinator reported for
 * removals) with mean and median over the succeeded operations.
 */
export function buildTimingTable(operations: readonly OperationTiming[], kind: TimingKind): TimingTable {
  const rows = timingRows(operations, kind);
  const base: string[] = kind === 'deploy' ? [...DEPLOY_PHASES] : [...REMOVE_PHASES];
  const extra = new Set<string>();
  for (const r of rows) for (const name of r.phases.keys()) if (!base.includes(name)) extra.add(name);
  const phases = [...base, ...[...extra].sort((a, b) => phaseOrder(a) - phaseOrder(b) || a.localeCompare(b))];
  const done = rows.filter((r) => r.succeeded);
  const stat = (f: (v: readonly number[]) => number): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const name of phases) out[name] = f(done.flatMap((r) => (r.phases.has(name) ? [r.phases.get(name)!] : [])));
    out['Total'] = f(done.map((r) => r.totalMs));
    return out;
  };
  return { kind, phases, rows, mean: stat(mean), median: stat(median), statsOver: done.length };
}

/**
 * The table as text lines: NODE HOST VO [OP] phases… TOTAL [STATE], then a
 * mean and a median row and a line saying what the statistics cover.
 */
export function renderTimingTable(table: TimingTable): string[] {
  const removal = table.kind === 'removal';
  const showState = table.rows.some((r) => !r.succeeded);
  const columns: Column[] = [
    { header: 'NODE' },
    { header: 'HOST' },
    { header: 'VO' },
    ...(removal ? [{ header: 'OP' }] : []),
    ...table.phases.map((p) => ({ header: p, right: true })),
    { header: 'TOTAL', right: true },
    ...(showState ? [{ header: 'STATE' }] : []),
  ];
  const cells = (r: TimingRow): string[] => [
    r.node,
    r.host,
    r.vo,
    ...(removal ? [r.kind] : []),
    ...table.phases.map((p) => (r.phases.has(p) ? formatSeconds(r.phases.get(p)!) : '-')),
    formatSeconds(r.totalMs),
    ...(showState ? [r.state] : []),
  ];
  const summary = (label: string, values: Record<string, number>): string[] => [
    label,
    '',
    '',
    ...(removal ? [''] : []),
    ...table.phases.map((p) => formatSeconds(values[p] ?? NaN)),
    formatSeconds(values['Total'] ?? NaN),
  ];
  const what = removal ? 'drains/removals' : 'deployments';
  if (!table.rows.length) return [`no ${what} recorded yet`];
  const lines = renderTable(columns, [...table.rows.map(cells), summary('mean', table.mean), summary('median', table.median)]);
  lines.push('', `times in seconds; mean and median over ${table.statsOver} succeeded ${what} of ${table.rows.length}`);
  return lines;
}
