import { DEPLOY_PHASES, REMOVE_PHASES } from '../../shared/phases.js';
import type { OperationTiming, StatusResponse, VoStatus } from '../../shared/gen/vonode/v1/coordinator.js';
import { phaseMarkToWire } from '../../shared/rpc/phase-codec.js';
import type { AgentRegistry } from '../inventory/agent-registry.js';
import type { NodePool } from '../pool/node-pool.js';
import type { PolicyWatcher } from '../policy/policy-watcher.js';
import type { OperationRecord } from '../store/records.js';
import type { StateStore } from '../store/state-store.js';
import { policyStatusToWire } from './policy-wire.js';

/** Inputs of the read-only views. */
export interface SiteViewDeps {
  site: string;
  startedUnixMs: number;
  store: StateStore;
  pool: NodePool;
  registry: AgentRegistry;
  policy: PolicyWatcher;
  depth(): { queued: number; running: number };
  /** Current target and demand per VO (from the scaling loop), if it runs. */
  targets(): ReadonlyMap<string, { target: number; demand: number }>;
}

/** The `vonode status` summary. */
export function siteStatus(d: SiteViewDeps): StatusResponse {
  const nodes = d.store.nodes();
  const hosts = d.registry.list();
  const depth = d.depth();
  const targets = d.targets();
  const vos: VoStatus[] = d.policy.current.vos.map((vo) => {
    const mine = nodes.filter((n) => n.vo === vo.name);
    const count = (s: string): number => mine.filter((n) => n.state === s).length;
    return {
      vo: vo.name, weight: vo.weight, target: targets.get(vo.name)?.target ?? vo.min, running: count('running'),
      deploying: count('deploying'), draining: count('draining') + count('removing'), demand: targets.get(vo.name)?.demand ?? 0,
    };
  });
  return {
    site: d.site, hostsUp: hosts.filter((h) => h.state === 'up').length, hostsDown: hosts.filter((h) => h.state === 'down').length,
    poolTotal: d.pool.total, poolFree: d.pool.total - nodes.length, queuedOperations: depth.queued, runningOperations: depth.running,
    policy: policyStatusToWire(d.policy), vos, startedUnixMs: d.startedUnixMs,
  };
}

const KNOWN = new Set<string>([...DEPLOY_PHASES, ...REMOVE_PHASES]);

/**
 * Per-operation phase durations of the last attempt (the paper's Table 2 and
 * Table 3 rows); total = first start to last end on the agent's clock, so
 * time spent queued before CR is not counted, as in the paper.
 */
export function operationTimings(store: StateStore, ops: readonly OperationRecord[], toWire: (o: OperationRecord) => OperationTiming['operation']): OperationTiming[] {
  return ops.map((op) => {
    const rows = store.phases(op.id).filter((p) => p.attempt === op.attempt && KNOWN.has(p.phase));
    const ends = rows.filter((p) => p.edge === 'end');
    const starts = rows.filter((p) => p.edge === 'start');
    const first = Math.min(...starts.map((p) => p.monotonicMs));
    const last = Math.max(...ends.map((p) => p.monotonicMs));
    return {
      operation: toWire(op),
      phases: ends.map((p) => ({ phase: phaseMarkToWire({ ...p, operationId: op.id, hostname: op.node }).phase, durationMs: p.durationMs })),
      totalMs: ends.length && starts.length ? last - first : 0,
    };
  });
}
