// Step functions of a count over time, as console-scale records them: a
// series of [epoch ms, count] pairs, each count holding until the next pair
// (null: nothing shown, read as 0). What console-scale's event → screen lag
// and "page behind" figures are computed from.

/** A count over time: [epoch ms, count after this instant] (null: no count shown). */
export type CountSeries = ReadonlyArray<readonly [number, number | null]>;

/** For k = 1..target: the first time at or after `fromMs` the series (time, count) reached ≥ k (undefined: never). */
export function firstReach(series: CountSeries, target: number, fromMs: number): Array<number | undefined> {
  const at = new Array<number | undefined>(target + 1).fill(undefined);
  let reached = 0;
  for (const [t, c] of series) {
    if (t < fromMs || c === null) continue;
    while (reached < Math.min(c, target)) at[++reached] = t;
  }
  return at;
}

/** The most nodes by which the page's count trailed the coordinator's, over [fromMs, toMs] (both step functions). */
export function maxBehind(coordinator: ReadonlyArray<readonly [number, number]>, page: CountSeries, fromMs: number, toMs: number): number {
  const times = [...coordinator.map(([t]) => t), ...page.map(([t]) => t)].filter((t) => t >= fromMs && t <= toMs).sort((a, b) => a - b);
  const valueAt = (series: CountSeries, t: number): number => {
    let v = 0;
    for (const [st, c] of series) if (st <= t) v = c ?? 0;
    return v;
  };
  // O(times × series) is fine at these sizes (≤ 20,000 points) and keeps the definition plain; sample at most 2,000 instants.
  const step = Math.max(1, Math.floor(times.length / 2000));
  let worst = 0;
  for (let i = 0; i < times.length; i += step) worst = Math.max(worst, valueAt(coordinator, times[i]!) - valueAt(page, times[i]!));
  return worst;
}

/** The q-quantile of ascending `sorted` (NaN when empty). */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}
