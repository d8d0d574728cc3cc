import { DEPLOY_PHASES, REMOVE_PHASES } from '../../../../shared/phases.js';
import type { PhaseMarkJson } from './api-types.js';
import { phaseShort } from './format.js';

/** One phase of the shown attempt, in ms relative to the attempt's first mark. */
export interface GanttBar {
  phase: string;
  startMs: number;
  endMs: number;
  /** The recorded duration (the host's monotonic clock) when the phase ended, else end - start. */
  durationMs: number;
  /** Started and not ended (running, or the attempt failed in it): drawn up to `openUntilMs`. */
  open: boolean;
  startUnixMs: number;
  host: string;
  details: Record<string, string>;
}

/** One of the paper's 2007 phases, placed as the paper ran it (see ghostBars). */
export interface GhostBar {
  phase: string;
  startMs: number;
  endMs: number;
  durationMs: number;
}

/** The timeline of one operation. */
export interface GanttLayout {
  /** Unix ms of the first mark of the shown attempt (0 when there are no marks). */
  originUnixMs: number;
  /** The attempt shown: the last one recorded. */
  attempt: number;
  /** Every attempt that left marks, ascending. */
  attempts: number[];
  /** In pipeline order: deployment phases, then removal phases, then unknown ones. */
  bars: GanttBar[];
  ghosts: GhostBar[];
  /** The longer of the bars' end and the ghosts' end, at least 1 ms. */
  spanMs: number;
  /** Axis ticks in ms from 0 to spanMs at a 1/2/5 step. */
  ticks: number[];
}

/** Which phases the ghost row lays out. */
export type GanttKind = 'deploy' | 'removal';

/** Options of layoutGantt. */
export interface GanttOptions {
  kind: GanttKind;
  /** The paper's figures in seconds by short phase name (`/api/operations/{id}` paper2007). */
  paper2007?: Readonly<Record<string, number>>;
  /** Unix ms an open bar extends to (now, for a running operation); default the last mark. */
  openUntilMs?: number;
}

const ORDER: readonly string[] = [...DEPLOY_PHASES, ...REMOVE_PHASES];

/** Sort key of a phase: deployment order, then removal order, then unknown names. */
export function phaseRank(phase: string): number {
  const i = ORDER.indexOf(phase);
  return i === -1 ? ORDER.length : i;
}

/**
 * Lays out an operation's phase marks (in recorded order) as bars. A retried
 * operation records marks per attempt; only the last attempt is drawn (the
 * one that got furthest or is still going), and `attempts` lists them all so
 * the view can say that earlier ones are left out. A phase with an end but no
 * start mark starts `durationMs` before its end; one with a start and no end
 * is open.
 */
export function layoutGantt(marks: readonly PhaseMarkJson[], options: GanttOptions): GanttLayout {
  const attempts = [...new Set(marks.map((m) => m.attempt ?? 0))].sort((a, b) => a - b);
  const attempt = attempts[attempts.length - 1] ?? 0;
  const shown = marks.filter((m) => (m.attempt ?? 0) === attempt && Number.isFinite(m.unixMs ?? NaN));
  const origin = shown.length ? Math.min(...shown.map((m) => m.unixMs!)) : 0;
  const lastMark = shown.length ? Math.max(...shown.map((m) => m.unixMs!)) : 0;
  const openUntil = Math.max(options.openUntilMs ?? lastMark, lastMark);

  const bars = new Map<string, GanttBar>();
  const started = new Map<string, PhaseMarkJson>();
  for (const m of shown) {
    const phase = phaseShort(m.phase);
    const at = m.unixMs!;
    const edge = m.edge.toLowerCase().replace(/^edge_/, ''); // tolerate wire names (EDGE_START)
    if (edge === 'start') {
      started.set(phase, m);
      bars.set(phase, bar(phase, m, at - origin, openUntil - origin, openUntil - at, true));
    } else if (edge === 'end') {
      const start = started.get(phase);
      started.delete(phase);
      const recorded = m.durationMs ?? 0;
      const startAt = start?.unixMs ?? at - recorded;
      bars.set(phase, bar(phase, start ?? m, startAt - origin, at - origin, recorded > 0 ? recorded : at - startAt, false, m.details));
    }
  }
  const sorted = [...bars.values()].sort((a, b) => phaseRank(a.phase) - phaseRank(b.phase) || a.startMs - b.startMs);
  const ghosts = ghostBars(options.kind, options.paper2007 ?? {});
  const spanMs = Math.max(1, ...sorted.map((b) => b.endMs), ...ghosts.map((g) => g.endMs));
  return { originUnixMs: origin, attempt, attempts, bars: sorted, ghosts, spanMs, ticks: axisTicks(spanMs) };
}

function bar(phase: string, m: PhaseMarkJson, startMs: number, endMs: number, durationMs: number, open: boolean, endDetails?: Record<string, string>): GanttBar {
  return {
    phase,
    startMs,
    endMs: Math.max(startMs, endMs),
    durationMs: Math.max(0, durationMs),
    open,
    startUnixMs: m.unixMs ?? 0,
    host: m.host ?? '',
    // The end mark says what the phase did (bytes, cache_hit, ip …); the start mark what it set out to do.
    details: { ...m.details, ...endDetails },
  };
}

/**
 * Phases that start together when the one before them ends: PUB and GW both
 * start when SR ends (the paper's Fig. 3 runs the information system and the
 * meta-scheduler side by side, as vonode's runVisibility does).
 */
const SIDE_BY_SIDE: ReadonlySet<string> = new Set(['PUB', 'GW']);

/**
 * The paper's 2007 figures as the paper ran them: for a deployment CR PT DA
 * VMB VMR SR one after the other, then PUB and GW side by side; for a drain
 * or removal DRN RC VMD DHR DKR one after the other. A phase without a
 * (finite, non-negative) figure is left out.
 */
export function ghostBars(kind: GanttKind, paper2007: Readonly<Record<string, number>>): GhostBar[] {
  const order: readonly string[] = kind === 'deploy' ? DEPLOY_PHASES : REMOVE_PHASES;
  const out: GhostBar[] = [];
  let at = 0;
  let groupStart: number | undefined;
  for (const phase of order) {
    const seconds = paper2007[phase];
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) continue;
    const durationMs = seconds * 1000;
    const together = SIDE_BY_SIDE.has(phase);
    if (together) groupStart ??= at;
    const startMs = together ? groupStart! : at;
    out.push({ phase, startMs, endMs: startMs + durationMs, durationMs });
    at = Math.max(at, startMs + durationMs);
  }
  return out;
}

/** Ticks from 0 to at most `spanMs` at a 1, 2 or 5 × 10^k ms step, about `target` of them. */
export function axisTicks(spanMs: number, target = 8): number[] {
  if (!(spanMs > 0)) return [0];
  const raw = spanMs / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * pow).find((s) => s >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let t = 0; t <= spanMs + step * 1e-9; t += step) ticks.push(Math.round(t * 1e6) / 1e6);
  return ticks;
}
