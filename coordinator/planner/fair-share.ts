/** One VO's claim on the site's nodes. */
export interface VoClaim {
  vo: string;
  /** Share weight (e.g. bio 2, fusion 5); > 0. */
  weight: number;
  /** Nodes the VO could use now (from its queue's pending + running jobs). */
  demand: number;
  /** Nodes the VO always keeps, demand or not. */
  min: number;
  /** Nodes the VO never exceeds. */
  max: number;
}

/** Target node count per VO. */
export type Targets = Record<string, number>;

/**
 * Weighted max-min fair targets over `capacity` nodes: every VO gets
 * weight × L for one common water level L, clamped to [min, min(demand, max)]
 * (never below min), with L as high as capacity allows; then whole nodes by
 * largest remainder within the same bounds. So: never above capacity (unless
 * the mins alone exceed it; then mins are met in weight order until it runs
 * out), never above a VO's demand or max except to honour its min, and in
 * the ratio of the weights whenever every VO has unmet demand.
 */
export function fairShareTargets(capacity: number, claims: readonly VoClaim[]): Targets {
  const cap = Math.max(0, Math.floor(capacity));
  const bounds = claims.map((c) => {
    const lo = Math.max(0, Math.floor(c.min));
    return { c, lo, hi: Math.max(lo, Math.floor(Math.min(c.demand, c.max))) };
  });
  const sumLo = bounds.reduce((s, b) => s + b.lo, 0);
  if (sumLo >= cap) return minsInWeightOrder(cap, bounds);
  const level = waterLevel(cap, bounds);
  const exact = bounds.map((b) => clamp(b.c.weight * level, b.lo, b.hi));
  return roundLargestRemainder(cap, bounds, exact);
}

interface Bound {
  c: VoClaim;
  lo: number;
  hi: number;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** Binary search for the level L where Σ clamp(w·L) reaches capacity (or every VO is at its upper bound). */
function waterLevel(capacity: number, bounds: Bound[]): number {
  const total = (l: number): number => bounds.reduce((s, b) => s + clamp(b.c.weight * l, b.lo, b.hi), 0);
  let hi = Math.max(1, ...bounds.map((b) => b.hi / Math.max(b.c.weight, 1e-9)));
  if (total(hi) <= capacity) return hi;
  let lo = 0;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (total(mid) > capacity) hi = mid;
    else lo = mid;
  }
  return lo;
}

/** Whole nodes: floors first, then leftover units by largest fractional part, heaviest weight breaking ties. */
function roundLargestRemainder(capacity: number, bounds: Bound[], exact: number[]): Targets {
  const whole = exact.map((x, i) => Math.max(bounds[i]!.lo, Math.floor(x + 1e-9)));
  let left = Math.min(capacity, Math.round(exact.reduce((s, x) => s + x, 0))) - whole.reduce((s, x) => s + x, 0);
  const order = exact
    .map((x, i) => ({ i, frac: x - Math.floor(x + 1e-9), w: bounds[i]!.c.weight }))
    .sort((a, b) => b.frac - a.frac || b.w - a.w);
  for (const { i } of order) {
    if (left <= 0) break;
    if (whole[i]! < bounds[i]!.hi) {
      whole[i]!++;
      left--;
    }
  }
  return Object.fromEntries(bounds.map((b, i) => [b.c.vo, whole[i]!]));
}

/** When the mins alone exhaust capacity: fill mins, heaviest weight first. */
function minsInWeightOrder(capacity: number, bounds: Bound[]): Targets {
  let left = capacity;
  const out: Targets = {};
  for (const b of [...bounds].sort((x, y) => y.c.weight - x.c.weight)) {
    out[b.c.vo] = Math.min(b.lo, left);
    left -= out[b.c.vo]!;
  }
  return out;
}
