import type { NodeRecord } from '../store/records.js';

/** What one scaling decision looks at. */
export interface ScalingInput {
  /** Target node count per VO (fair shares after cooldowns). */
  targets: Readonly<Record<string, number>>;
  /** Every leased node. */
  nodes: readonly NodeRecord[];
  /** Running jobs per node, from the batch system (a node it does not list counts as busy: it may be registering). */
  runningJobs: ReadonlyMap<string, number>;
  /** Since when each node has been idle (no job), wall-clock ms. */
  idleSinceMs: ReadonlyMap<string, number>;
  nowMs: number;
  idleBeforeDrainMs: number;
  /** Pool triples free now. */
  poolFree: number;
  /** VOs whose new deployments are held back (their last ones failed): their deficits take no triple and reclaim no node. */
  deployHeld?: ReadonlySet<string>;
}

/** The actions of one scaling pass. */
export interface ScalingPlan {
  deploy: Array<{ vo: string; count: number }>;
  drain: string[];
}

const ACTIVE = new Set<NodeRecord['state']>(['deploying', 'running']);

/**
 * Turns targets into deployments and drains. Growth takes free pool triples,
 * largest deficit first. Shrinking drains idle nodes first, each only after
 * it has been idle for idleBeforeDrain (no flapping on a short gap between
 * jobs); busy nodes are drained only to reclaim capacity that a VO below its
 * target cannot get otherwise, fewest running jobs first. A drain never kills
 * a job: the node leaves when its last job ends. Deploying nodes are never
 * drained. A VO whose deployments are held back grows not at all, and busy
 * nodes of others are not reclaimed for it; its drains go on as usual.
 */
export function planScaling(input: ScalingInput): ScalingPlan {
  const vos = Object.keys(input.targets);
  const active = (vo: string): NodeRecord[] => input.nodes.filter((n) => n.vo === vo && ACTIVE.has(n.state));
  const deficits = vos
    .map((vo) => ({ vo, count: (input.targets[vo] ?? 0) - active(vo).length }))
    .filter((d) => d.count > 0 && !input.deployHeld?.has(d.vo))
    .sort((a, b) => b.count - a.count || a.vo.localeCompare(b.vo));
  let free = input.poolFree;
  const deploy: ScalingPlan['deploy'] = [];
  let unmet = 0;
  for (const d of deficits) {
    const count = Math.min(d.count, free);
    if (count > 0) deploy.push({ vo: d.vo, count });
    free -= count;
    unmet += d.count - count;
  }
  const drain: string[] = [];
  for (const vo of vos) {
    const running = active(vo).filter((n) => n.state === 'running');
    let excess = active(vo).length - (input.targets[vo] ?? 0);
    if (excess <= 0) continue;
    const jobs = (n: NodeRecord): number => input.runningJobs.get(n.hostname) ?? Number.POSITIVE_INFINITY;
    const idleLongEnough = running
      .filter((n) => jobs(n) === 0 && input.nowMs - (input.idleSinceMs.get(n.hostname) ?? input.nowMs) >= input.idleBeforeDrainMs)
      .sort((a, b) => (input.idleSinceMs.get(a.hostname) ?? 0) - (input.idleSinceMs.get(b.hostname) ?? 0));
    for (const n of idleLongEnough) {
      if (excess <= 0) break;
      drain.push(n.hostname);
      excess--;
    }
    if (excess <= 0 || unmet <= 0) continue;
    // Reclaim for a VO below its share: busy nodes finish their jobs, then go.
    const busy = running.filter((n) => !drain.includes(n.hostname) && Number.isFinite(jobs(n))).sort((a, b) => jobs(a) - jobs(b));
    for (const n of busy) {
      if (excess <= 0 || unmet <= 0) break;
      drain.push(n.hostname);
      excess--;
      unmet--;
    }
  }
  return { deploy, drain };
}
