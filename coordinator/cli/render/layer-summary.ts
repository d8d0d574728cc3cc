import type { OperationTiming } from '../../../shared/gen/vonode/v1/coordinator.js';
import { AGENT_DEPLOY_PHASES, type DeployPhase } from '../../../shared/phases.js';
import { formatSeconds } from './format.js';
import { renderTable, type Column } from './table.js';
import { mean, median, timingRows, type TimingRow } from './timing-table.js';

/** Key of a layer of the paper's Fig. 3, as vonode measures it. */
export type LayerKey = 'machine' | 'batch' | 'infosys' | 'metascheduler';

/** One layer of the paper's Fig. 3 and the deployment phases that make it up here. */
export interface Layer {
  key: LayerKey;
  label: string;
  phases: readonly DeployPhase[];
  /**
   * When the layer runs: stages follow one another, layers of one stage run
   * side by side. PUB and GW share a stage because the coordinator starts
   * both when SR ends (coordinator/deploy/grid-steps.ts, runVisibility).
   */
  stage: number;
  /** The paper's 2007 figure for the layer in seconds (Fig. 3). */
  paperSeconds: number;
}

/** The layers of Fig. 3 in order: machine level, LRMS, basic grid middleware, meta-scheduler. */
export const LAYERS: readonly Layer[] = [
  { key: 'machine', label: 'machine (CR..VMR)', phases: AGENT_DEPLOY_PHASES, stage: 0, paperSeconds: 114 },
  { key: 'batch', label: 'batch system (SR)', phases: ['SR'], stage: 1, paperSeconds: 2 },
  { key: 'infosys', label: 'information system (PUB)', phases: ['PUB'], stage: 2, paperSeconds: 170 },
  { key: 'metascheduler', label: 'meta-scheduler (GW)', phases: ['GW'], stage: 2, paperSeconds: 90 },
];

/** Label of the total row. */
export const TOTAL_LABEL = 'request → grid-visible (total)';

/** Statistics of one layer (or the total) over the succeeded deployments that ran it. */
export interface LayerStat {
  key: LayerKey | 'total';
  label: string;
  phases: readonly string[];
  /** NaN when no deployment ran the layer. */
  meanMs: number;
  /** NaN when no deployment ran the layer. */
  medianMs: number;
  /** How many deployments the statistics cover. */
  count: number;
  paperSeconds: number;
}

/** The Fig. 3 view of recorded deployments. */
export interface LayerSummary {
  layers: LayerStat[];
  /** Request → grid-visible; over deployments that ran every layer in `totalLayers`. */
  total: LayerStat;
  /** The layers that at least one succeeded deployment ran: what the total is made of. */
  totalLayers: LayerKey[];
  /** Succeeded deployments. */
  succeeded: number;
  /** All deployments in the answer, whatever their state. */
  deployments: number;
}

/** A layer's time in one deployment: the sum of its phase durations; undefined unless every one of its phases ran. */
export function layerMs(row: TimingRow, layer: Layer): number | undefined {
  let sum = 0;
  for (const phase of layer.phases) {
    const ms = row.phases.get(phase);
    if (ms === undefined) return undefined;
    sum += ms;
  }
  return sum;
}

/**
 * Request → grid-visible in one deployment from phase durations: the sum over
 * stages of the longest layer in each. Undefined unless the deployment ran
 * every layer in `required`, or when `required` is empty.
 */
export function gridVisibleMs(row: TimingRow, required: readonly LayerKey[]): number | undefined {
  if (!required.length) return undefined;
  const longest = new Map<number, number>();
  for (const layer of LAYERS.filter((l) => required.includes(l.key))) {
    const ms = layerMs(row, layer);
    if (ms === undefined) return undefined;
    longest.set(layer.stage, Math.max(longest.get(layer.stage) ?? 0, ms));
  }
  return [...longest.values()].reduce((s, v) => s + v, 0);
}

function stat(base: Omit<LayerStat, 'meanMs' | 'medianMs' | 'count'>, values: readonly number[]): LayerStat {
  return { ...base, meanMs: mean(values), medianMs: median(values), count: values.length };
}

/**
 * Mean and median per layer of Fig. 3 over the succeeded deployments. A layer
 * counts in a deployment only when all its phases ran, so a layer the site
 * does not run (GW without GridWay) has no values instead of zeros.
 */
export function buildLayerSummary(operations: readonly OperationTiming[]): LayerSummary {
  const rows = timingRows(operations, 'deploy');
  const done = rows.filter((r) => r.succeeded);
  const valuesOf = (layer: Layer): number[] => done.flatMap((r) => layerMs(r, layer) ?? []);
  const layers = LAYERS.map((l) => stat({ key: l.key, label: l.label, phases: l.phases, paperSeconds: l.paperSeconds }, valuesOf(l)));
  const totalLayers = layers.filter((l) => l.count > 0).map((l) => l.key as LayerKey);
  const total = stat(
    {
      key: 'total',
      label: TOTAL_LABEL,
      phases: LAYERS.filter((l) => totalLayers.includes(l.key)).flatMap((l) => l.phases),
      paperSeconds: LAYERS.reduce((s, l) => s + l.paperSeconds, 0),
    },
    done.flatMap((r) => gridVisibleMs(r, totalLayers) ?? []),
  );
  return { layers, total, totalLayers, succeeded: done.length, deployments: rows.length };
}

/** A layer's statistics as JSON: NaN (no data) becomes null. */
function statToJson(s: LayerStat): Record<string, unknown> {
  const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null);
  return { layer: s.key, label: s.label, phases: [...s.phases], meanMs: orNull(s.meanMs), medianMs: orNull(s.medianMs), count: s.count, paperSeconds: s.paperSeconds };
}

/** The summary as plain JSON for `vonode timings --layers --json`. */
export function layerSummaryToJson(summary: LayerSummary): Record<string, unknown> {
  return {
    kind: 'layers',
    deployments: summary.deployments,
    succeeded: summary.succeeded,
    layers: summary.layers.map(statToJson),
    total: { ...statToJson(summary.total), layers: [...summary.totalLayers] },
  };
}

/** Short name of a layer by its phases: `CR..VMR`, `SR`. */
function phaseSpan(layer: Layer): string {
  const first = layer.phases[0] ?? '';
  const last = layer.phases.at(-1) ?? '';
  return first === last ? first : `${first}..${last}`;
}

/** How the total adds up from the layers it covers, e.g. `CR..VMR + SR + max(PUB, GW)`. */
export function totalFormula(totalLayers: readonly LayerKey[]): string {
  const stages = new Map<number, string[]>();
  for (const l of LAYERS) if (totalLayers.includes(l.key)) stages.set(l.stage, [...(stages.get(l.stage) ?? []), phaseSpan(l)]);
  return [...stages.values()].map((names) => (names.length > 1 ? `max(${names.join(', ')})` : names[0])).join(' + ');
}

/**
 * The Fig. 3 view as text lines: LAYER MEAN MEDIAN OPS PAPER-2007, one row per
 * layer and the total, then notes on what is sequential and what overlaps.
 */
export function renderLayerSummary(summary: LayerSummary): string[] {
  if (!summary.deployments) return ['no deployments recorded yet'];
  const columns: Column[] = [
    { header: 'LAYER' },
    { header: 'MEAN', right: true },
    { header: 'MEDIAN', right: true },
    { header: 'OPS', right: true },
    { header: 'PAPER-2007', right: true },
  ];
  const cells = (s: LayerStat): string[] => [s.label, formatSeconds(s.meanMs), formatSeconds(s.medianMs), String(s.count), String(s.paperSeconds)];
  const formula = totalFormula(summary.totalLayers);
  return [
    ...renderTable(columns, [...summary.layers, summary.total].map(cells)),
    '',
    `times in seconds over ${summary.succeeded} succeeded deployments of ${summary.deployments}; OPS: those that ran every phase of the layer (- = none did)`,
    'a layer is the sum of its phase durations (time queued for the host between CR and PT is not counted)',
    'CR..VMR and SR run one after another; PUB and GW both start when SR ends and run side by side',
    formula ? `total = ${formula}, over deployments that ran all of these` : 'total: no layer ran',
    'the paper\'s layers are a sequence, 114 + 2 + 170 + 90 = 376 s: its 90 s for GridWay follow MDS, GW here counts from the end of SR',
  ];
}
