import type { JSX } from 'preact';
import { formatClock, formatSeconds } from '../model/format.js';
import type { GanttBar, GanttLayout, GhostBar } from '../model/gantt-layout.js';

const WIDTH = 960;
const LABEL_W = 56;
const RIGHT_PAD = 96; // room for the duration label after the longest bar
const ROW_H = 22;
const BAR_H = 14;
const AXIS_H = 24;
const SECTION_H = 20;
const MIN_BAR_W = 2; // a 20 ms CR next to a 97 s PT still shows

/** Colour group of a phase (CSS class): the layers of the paper's Fig. 3, and removal. */
function group(phase: string): string {
  if (['CR', 'PT', 'DA', 'VMB', 'VMR'].includes(phase)) return 'machine';
  if (phase === 'SR') return 'batch';
  if (phase === 'PUB') return 'infosys';
  if (phase === 'GW') return 'meta';
  if (['DRN', 'RC', 'VMD', 'DHR', 'DKR'].includes(phase)) return 'removal';
  return 'other';
}

/** An axis tick in seconds without trailing zeros: 0, 0.5, 50, 350. */
function tickLabel(ms: number): string {
  return String(Number((ms / 1000).toFixed(3)));
}

function barTitle(b: GanttBar): string {
  const details = Object.entries(b.details)
    .sort(([a], [c]) => a.localeCompare(c))
    .map(([k, v]) => `\n${k}: ${v}`)
    .join('');
  const state = b.open ? ' (not ended)' : '';
  return `${b.phase}: ${formatSeconds(b.durationMs)} s${state}\nstarted ${formatClock(b.startUnixMs)} (+${formatSeconds(b.startMs)} s)${b.host ? `\non ${b.host}` : ''}${details}`;
}

/** The timeline of one operation: its phases as bars on a shared time axis, with the paper's 2007 phases as a grey row set beneath. */
export function GanttChart({ layout }: { layout: GanttLayout }): JSX.Element {
  const plotW = WIDTH - LABEL_W - RIGHT_PAD;
  const x = (ms: number): number => LABEL_W + (ms / layout.spanMs) * plotW;
  const w = (start: number, end: number): number => Math.max(MIN_BAR_W, x(end) - x(start));
  const barsTop = AXIS_H + SECTION_H;
  const ghostsTop = barsTop + layout.bars.length * ROW_H + (layout.ghosts.length ? SECTION_H : 0);
  const height = ghostsTop + layout.ghosts.length * ROW_H + 6;
  const earlier = layout.attempts.filter((a) => a !== layout.attempt);

  const row = (top: number, i: number, phase: string, start: number, end: number, text: string, bar: JSX.Element): JSX.Element => {
    const y = top + i * ROW_H;
    return (
      <g key={`${top}-${phase}`}>
        <text x={LABEL_W - 8} y={y + BAR_H - 2} class="gantt-label" text-anchor="end">
          {phase}
        </text>
        {bar}
        <text x={x(start) + w(start, end) + 4} y={y + BAR_H - 2} class="gantt-duration">
          {text}
        </text>
      </g>
    );
  };

  const actual = (b: GanttBar, i: number): JSX.Element =>
    row(
      barsTop,
      i,
      b.phase,
      b.startMs,
      b.endMs,
      `${formatSeconds(b.durationMs)} s${b.open ? '…' : ''}`,
      <rect data-testid={`gantt-bar-${b.phase}`} class={`bar bar-${group(b.phase)}${b.open ? ' bar-open' : ''}`} x={x(b.startMs)} y={barsTop + i * ROW_H} width={w(b.startMs, b.endMs)} height={BAR_H} rx={2}>
        <title>{barTitle(b)}</title>
      </rect>,
    );

  const ghost = (g: GhostBar, i: number): JSX.Element =>
    row(
      ghostsTop,
      i,
      g.phase,
      g.startMs,
      g.endMs,
      `${formatSeconds(g.durationMs)} s`,
      <rect data-testid={`ghost-bar-${g.phase}`} class="bar bar-ghost" x={x(g.startMs)} y={ghostsTop + i * ROW_H} width={w(g.startMs, g.endMs)} height={BAR_H} rx={2}>
        <title>{`${g.phase} in the 2007 paper: ${formatSeconds(g.durationMs)} s (from +${formatSeconds(g.startMs)} s; PUB and GW side by side after SR, as in the paper's Fig. 3)`}</title>
      </rect>,
    );

  return (
    <figure class="gantt-figure">
      <svg data-testid="gantt" class="gantt" viewBox={`0 0 ${WIDTH} ${height}`} width="100%" role="img" aria-label="phase timeline">
        {layout.ticks.map((t) => (
          <g key={`t${t}`}>
            <line x1={x(t)} x2={x(t)} y1={AXIS_H - 4} y2={height} class="gantt-grid" />
            <text x={x(t)} y={AXIS_H - 8} class="gantt-tick" text-anchor="middle">
              {tickLabel(t)}
            </text>
          </g>
        ))}
        <text x={4} y={AXIS_H - 8} class="gantt-tick">
          s
        </text>
        <text x={LABEL_W} y={barsTop - 6} class="gantt-section">
          {layout.bars.length ? `this operation${layout.attempts.length > 1 ? `, attempt ${layout.attempt}` : ''}` : 'no phase recorded yet'}
        </text>
        {layout.bars.map(actual)}
        {layout.ghosts.length > 0 && (
          <text x={LABEL_W} y={ghostsTop - 6} class="gantt-section">
            the paper (2007): one after the other, PUB and GW side by side
          </text>
        )}
        {layout.ghosts.map(ghost)}
      </svg>
      {earlier.length > 0 && (
        <figcaption class="muted small" data-testid="gantt-earlier-attempts">
          attempt {layout.attempt} shown; earlier attempt{earlier.length > 1 ? 's' : ''} {earlier.join(', ')} left out (see the marks below)
        </figcaption>
      )}
    </figure>
  );
}
