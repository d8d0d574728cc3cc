import type { Targets } from './fair-share.js';

/** Least time between two changes of one VO's target (Policy['cooldowns']). */
export interface ScalingCooldowns {
  /** Before a VO's target may grow again. */
  scaleUpMs: number;
  /** Before a VO's target may shrink again. */
  scaleDownMs: number;
}

/** One planning round's input to applyHysteresis. */
export interface HysteresisInput {
  /** Now, on the clock `lastChangeMs` was taken with (monotonic). */
  nowMs: number;
  /** Nodes the site can run. */
  capacity: number;
  /** Targets in force since the last round. */
  previous: Readonly<Targets>;
  /** When each VO's target last changed; a VO missing here never changed, so no cooldown holds it. */
  lastChangeMs: Readonly<Record<string, number>>;
  /** Fresh fair-share targets (fairShareTargets). */
  raw: Readonly<Targets>;
  cooldowns: ScalingCooldowns;
}

/** Targets after cooldowns, and the change times to pass to the next round. */
export interface HysteresisResult {
  targets: Targets;
  lastChangeMs: Record<string, number>;
  /** VOs left short of (or above) their raw target this round, sorted. */
  held: string[];
}

/**
 * Applies scaling cooldowns to fair-share targets. Per VO: a raw target above
 * the previous one is taken only once `scaleUpMs` has passed since that VO's
 * last change, one below only after `scaleDownMs`; otherwise the previous
 * target stays. Each change stamps the VO's change time with `nowMs`.
 *
 * Capacity rule: a decrease held back keeps its nodes, so the increases
 * allowed this round only share what is left of `capacity` after every
 * non-growing VO's target and every growing VO's previous target. When that
 * is short, it goes one node at a time to the VO furthest below its raw target
 * (ties: larger raw target, then name); the rest of those increases waits for
 * a later round. Hence the sum stays ≤ capacity whenever the previous sum
 * was; if capacity shrank below the previous sum, no VO grows and decreases
 * still follow their cooldown. Every target lies between its previous and raw
 * value, and once all cooldowns have passed the result is the raw targets
 * (provided they fit in capacity). A VO that left `raw` counts as raw 0 and
 * is dropped from the output once it reaches 0. Pure; never throws.
 */
export function applyHysteresis(input: HysteresisInput): HysteresisResult {
  const { nowMs, previous, lastChangeMs, raw, cooldowns } = input;
  const capacity = Math.max(0, Math.floor(input.capacity));
  const vos = [...new Set([...Object.keys(raw), ...Object.keys(previous)])].sort();
  const decided: Targets = {};
  const growing: Array<{ vo: string; prev: number; want: number }> = [];
  for (const vo of vos) {
    const prev = previous[vo] ?? 0;
    const want = raw[vo] ?? 0;
    const since = lastChangeMs[vo];
    const elapsed = since === undefined ? Infinity : nowMs - since;
    if (want > prev && elapsed >= cooldowns.scaleUpMs) growing.push({ vo, prev, want });
    else if (want < prev && elapsed >= cooldowns.scaleDownMs) decided[vo] = want;
    else decided[vo] = prev; // unchanged, or held by its cooldown
  }
  const committed = Object.values(decided).reduce((s, x) => s + x, 0) + growing.reduce((s, g) => s + g.prev, 0);
  const grants = shareIncreases(Math.max(0, capacity - committed), growing);
  growing.forEach((g, i) => (decided[g.vo] = g.prev + grants[i]!));

  const targets: Targets = {};
  const changes: Record<string, number> = {};
  const held: string[] = [];
  for (const vo of vos) {
    const target = decided[vo]!;
    if (!(vo in raw) && target === 0) continue;
    targets[vo] = target;
    const stamp = target !== (previous[vo] ?? 0) ? nowMs : lastChangeMs[vo];
    if (stamp !== undefined) changes[vo] = stamp;
    if (target !== (raw[vo] ?? 0)) held.push(vo);
  }
  return { targets, lastChangeMs: changes, held };
}

/** Splits `room` nodes among increases: all of them if they fit, else one node at a time to the largest shortfall. */
function shareIncreases(room: number, growing: ReadonlyArray<{ vo: string; want: number; prev: number }>): number[] {
  const grants = growing.map(() => 0);
  const wanted = growing.reduce((s, g) => s + g.want - g.prev, 0);
  if (wanted <= room) return growing.map((g) => g.want - g.prev);
  for (let left = room; left > 0; left--) {
    let best = -1;
    for (let i = 0; i < growing.length; i++) {
      const g = growing[i]!;
      const short = g.want - g.prev - grants[i]!;
      if (short <= 0) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const b = growing[best]!;
      const bestShort = b.want - b.prev - grants[best]!;
      // growing is in name order, so keeping the earlier index on a full tie breaks by name.
      if (short > bestShort || (short === bestShort && g.want > b.want)) best = i;
    }
    if (best < 0) break;
    grants[best]!++;
  }
  return grants;
}
