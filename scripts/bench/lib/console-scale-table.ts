// console-scale's figures: the rows it adds to its table and the fields it
// records for --json, from what the page probe, CDP and the coordinator's
// events measured; and the closing verdict on the four targets.
import type { Metrics } from 'puppeteer-core';
import { finiteOrNull } from './bench-json.js';
import { mb, secs, type BenchReport } from './bench-report.js';
import type { ProbeState } from './console-page-probe.js';
import { firstReach, maxBehind, quantile } from './count-series.js';

/** The "stays responsive", as numbers: a user's page load, a filter click, the longest freeze, how late live data shows. */
export const TARGETS = { pageLoadS: 3, filterMs: 200, longTaskMs: 200, lagP50Ms: 1000 };

/** Repeated figures for the table: `a / b / c unit`. */
export function list(xs: readonly number[], unit: string): string {
  return `${xs.map((x) => (Number.isFinite(x) ? x.toFixed(unit === 's' ? 3 : 0) : 'n/a')).join(' / ')} ${unit}`;
}

/** Main-thread work between two CDP readings, in seconds. */
export interface BusyDelta {
  taskS: number;
  scriptS: number;
  layoutS: number;
  styleS: number;
}

/** Seconds of main-thread work between two CDP Performance.getMetrics readings: all tasks, and script, layout and style within them. */
export function metricsDelta(a: Metrics, b: Metrics): BusyDelta {
  const d = (k: 'TaskDuration' | 'ScriptDuration' | 'LayoutDuration' | 'RecalcStyleDuration'): number => (b[k] ?? NaN) - (a[k] ?? NaN);
  return { taskS: d('TaskDuration'), scriptS: d('ScriptDuration'), layoutS: d('LayoutDuration'), styleS: d('RecalcStyleDuration') };
}

/** The table and the --json record of one console-scale run, with the rows that need more than one line to work out. */
export class ConsoleScaleTable {
  constructor(
    readonly report: BenchReport,
    readonly json: Record<string, unknown>,
  ) {}

  /** The baseline burst (no page open): wall time and coordinator CPU. */
  baseline(run: { burstMs: number; succeeded: number; unfinished: number; cpuS: number }): void {
    const { report, json } = this;
    report.section('baseline: the same burst with no console page open');
    report.add('burst: first DeployNodes → the last node running (coordinator\'s stamps)', `${secs(run.burstMs)} (${run.succeeded} succeeded, ${run.unfinished} unfinished)`);
    report.add('coordinator CPU during it', secs(run.cpuS * 1000));
    Object.assign(json, { baseline_burst_s: finiteOrNull(run.burstMs / 1000), baseline_coordinator_cpu_s: finiteOrNull(run.cpuS) });
  }

  /** The page's burst against the baseline's (when there was one): wall time and coordinator CPU, as ratios. */
  compareBaseline(run: { burstMs: number; cpuS: number }): void {
    const [wall, cpu] = [this.json['baseline_burst_s'], this.json['baseline_coordinator_cpu_s']];
    if (typeof wall !== 'number' || typeof cpu !== 'number') return;
    const wallRatio = run.burstMs / 1000 / wall;
    const cpuRatio = run.cpuS / cpu;
    this.report.add('  with the page / without: burst wall time; coordinator CPU', `${wallRatio.toFixed(2)}×; ${cpuRatio.toFixed(2)}×`);
    Object.assign(this.json, { burst_vs_baseline: finiteOrNull(wallRatio), coordinator_cpu_vs_baseline: finiteOrNull(cpuRatio) });
  }

  /** The page's stream during the burst: messages, bytes, reopens; and what the bench's own stream got meanwhile. */
  sse(before: ProbeState, after: ProbeState, coordinatorEvents: number): void {
    const events = after.sse.messages - before.sse.messages;
    const bytes = after.sse.bytes - before.sse.bytes;
    const reconnects = after.sse.opens - before.sse.opens;
    this.report.add('events on the page\'s stream (SSE messages); bytes', `${events}; ${mb(bytes)}`);
    this.report.add('events the bench\'s WatchEvents got meanwhile (the same bus)', String(coordinatorEvents));
    // A reopen means the server cut the stream (the page fell 4 MiB behind) or it broke: the page then reloads every snapshot.
    this.report.add('stream reopened during the burst (cut or broken)', `${reconnects} (${after.sse.errors - before.sse.errors} errors)`, { text: '0', pass: reconnects === 0 });
    Object.assign(this.json, { burst_events: events, burst_sse_bytes: bytes, sse_reconnects: reconnects });
  }

  /** Long tasks within [fromMs, toMs] (wall clock) and the main thread's busy time over the `windowS` seconds between the CDP readings. */
  longTasks(probe: ProbeState, fromMs: number, toMs: number, busy: BusyDelta, windowS: number): void {
    const { report } = this;
    const tasks = probe.longTasks.filter(([t]) => t >= fromMs && t <= toMs).map(([, d]) => d);
    const total = tasks.reduce((s, d) => s + d, 0);
    const max = tasks.length ? Math.max(...tasks) : 0;
    const supported = probe.longTaskSupported;
    report.add('long tasks (> 50 ms) during burst + catch-up: count; total', supported ? `${tasks.length}; ${secs(total)}` : 'n/a (no longtask entries in this browser)');
    report.add('longest task', supported ? `${max.toFixed(0)} ms` : 'n/a', { text: `≤ ${TARGETS.longTaskMs} ms`, pass: supported && max <= TARGETS.longTaskMs });
    report.add('page main thread busy (CDP TaskDuration)', `${secs(busy.taskS * 1000)} of ${windowS.toFixed(1)} s (${((busy.taskS / windowS) * 100).toFixed(0)} %)`);
    report.add('  of it script; layout; style recalculation', `${secs(busy.scriptS * 1000)}; ${secs(busy.layoutS * 1000)}; ${secs(busy.styleS * 1000)}`);
    Object.assign(this.json, {
      long_tasks: supported ? tasks.length : null, long_task_total_ms: supported ? total : null, long_task_max_ms: supported ? max : null,
      page_busy_s: finiteOrNull(busy.taskS), page_script_s: finiteOrNull(busy.scriptS), page_layout_s: finiteOrNull(busy.layoutS), page_style_s: finiteOrNull(busy.styleS),
    });
  }

  /** Event → screen lag for every running count 1..target, and the most nodes the page trailed by. */
  lag(coordinator: ReadonlyArray<readonly [number, number]>, shown: ProbeState['shown'], fromMs: number, toMs: number, target: number): void {
    const coordAt = firstReach(coordinator, target, fromMs);
    const pageAt = firstReach(shown, target, fromMs);
    const lags: number[] = [];
    let never = 0;
    for (let k = 1; k <= target; k++) {
      const [c, p] = [coordAt[k], pageAt[k]];
      if (c === undefined) continue;
      if (p === undefined) never++;
      else lags.push(p - c);
    }
    lags.sort((a, b) => a - b);
    const [p50, p90, max] = [quantile(lags, 0.5), quantile(lags, 0.9), lags.at(-1) ?? NaN];
    const behind = maxBehind(coordinator, shown, fromMs, toMs);
    this.report.add('event → screen lag p50 (coordinator reached N running → page shows N)', `${p50.toFixed(0)} ms`, { text: `≤ ${TARGETS.lagP50Ms} ms`, pass: p50 <= TARGETS.lagP50Ms && never === 0 });
    this.report.add('  p90 / max; counts never shown', `${p90.toFixed(0)} / ${max.toFixed(0)} ms; ${never}`);
    this.report.add('  most nodes the page was behind the coordinator', String(behind));
    Object.assign(this.json, { page_lag_p50_ms: finiteOrNull(p50), page_lag_p90_ms: finiteOrNull(p90), page_lag_max_ms: finiteOrNull(max), page_lag_never_shown: never, page_behind_max_nodes: behind });
  }

  /** Prints the four targets, each MET or NOT MET (not measured counts as NOT MET). */
  printVerdicts(): void {
    const json = this.json;
    const worst = (k: string): number => Math.max(...((json[k] as Array<number | null> | undefined) ?? [NaN]).map((x) => x ?? NaN));
    const rows: Array<[string, number, number, string]> = [
      ['page load (slowest run)', worst('page_load_s'), TARGETS.pageLoadS, 's'],
      ['VO filter (slowest run)', worst('filter_ms'), TARGETS.filterMs, 'ms'],
      ['longest main-thread task in the burst', (json['long_task_max_ms'] as number | null) ?? NaN, TARGETS.longTaskMs, 'ms'],
      ['event → screen lag p50', (json['page_lag_p50_ms'] as number | null) ?? NaN, TARGETS.lagP50Ms, 'ms'],
    ];
    console.log('targets:');
    for (const [what, v, t, unit] of rows) {
      const shown = Number.isFinite(v) ? `${v.toFixed(unit === 's' ? 3 : 0)} ${unit}` : 'not measured';
      console.log(`  ${what.padEnd(40)} ${shown.padStart(14)}  (≤ ${t} ${unit})  ${v <= t ? 'MET' : 'NOT MET'}`);
    }
  }
}
