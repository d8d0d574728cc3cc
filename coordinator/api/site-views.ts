import { DEPLOY_PHASES, REMOVE_PHASES, type PhaseName } from '../../shared/phases.js';
import type { CoordinatorCluster, ImageTransfer, ListHostsResponse, ListNodesResponse, OperationTiming, StatusResponse, VoStatus } from '../../shared/gen/vonode/v1/coordinator.js';
import type { ActiveTransfer } from '../transfers/transfer-scheduler.js';
import type { DeployFailureCause } from '../deploy/deploy-failure.js';
import { phaseMarkToWire } from '../../shared/rpc/phase-codec.js';
import type { AgentRegistry } from '../inventory/agent-registry.js';
import type { NodePool } from '../pool/node-pool.js';
import type { PolicyWatcher } from '../policy/policy-watcher.js';
import type { OperationRecord, PhaseRow } from '../store/records.js';
import type { StateStore } from '../store/state-store.js';
import { policyStatusToWire } from './policy-wire.js';
import { hostToWire, nodeToWire } from './wire.js';

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
  /** VOs with deployments failed since their last success, until when the scaling loop holds back new ones, and what made the last one fail (metrics). */
  deployHolds(): ReadonlyMap<string, { failures: number; untilMs: number; lastError: string; cause?: DeployFailureCause }>;
  /** Image downloads running now (absent: none shown). */
  transfers?(): readonly ActiveTransfer[];
  /** The coordinators and their store (absent: not shown). */
  cluster?(): Promise<CoordinatorCluster | undefined>;
}

/** The transfers with the progress each host's last heartbeat reported. */
function transfersToWire(d: SiteViewDeps): ImageTransfer[] {
  return (d.transfers?.() ?? []).map((t) => {
    const held = d.registry.get(t.host)?.facts?.holdings.find((h) => h.sha256 === t.sha256);
    return {
      host: t.host, sha256: t.sha256, source: t.source, rateBytesPerSecond: t.rateBytesPerSecond, sizeBytes: t.sizeBytes || held?.sizeBytes || 0,
      verifiedBytes: held?.verifiedBytes ?? 0, purpose: t.purpose, operationId: t.id, startedUnixMs: t.startedMs,
    };
  });
}

/** The `vonode status` summary. */
export function siteStatus(d: SiteViewDeps): StatusResponse {
  const nodes = d.store.nodes();
  const hosts = d.registry.counts();
  const depth = d.depth();
  const targets = d.targets();
  const holds = d.deployHolds();
  const vos: VoStatus[] = d.policy.current.vos.map((vo) => {
    const mine = nodes.filter((n) => n.vo === vo.name);
    const count = (s: string): number => mine.filter((n) => n.state === s).length;
    const hold = holds.get(vo.name);
    return {
      vo: vo.name, weight: wireWeight(vo.weight), target: targets.get(vo.name)?.target ?? vo.min, running: count('running'),
      deploying: count('deploying'), draining: count('draining') + count('removing'), demand: targets.get(vo.name)?.demand ?? 0,
      deployFailures: hold?.failures ?? 0, deployHeldUntilUnixMs: hold?.untilMs ?? 0, lastDeployError: hold?.lastError ?? '',
    };
  });
  return {
    site: d.site, hostsUp: hosts.up, hostsDown: hosts.down,
    poolTotal: d.pool.total, poolFree: d.pool.total - nodes.length, queuedOperations: depth.queued, runningOperations: depth.running,
    policy: policyStatusToWire(d.policy), vos, startedUnixMs: d.startedUnixMs, transfers: transfersToWire(d), cluster: undefined,
  };
}

/** The `vonode hosts` list; `slotHolder` names the operation holding a host's deployment slot ('' when free). */
export function siteHosts(d: Pick<SiteViewDeps, 'store' | 'registry'>, slotHolder: (host: string) => string): ListHostsResponse {
  // Nodes per host in one pass over the nodes (not one per host: 2,000 hosts × 5,000 nodes).
  const perHost = new Map<string, number>();
  for (const n of d.store.nodes()) if (n.host) perHost.set(n.host, (perHost.get(n.host) ?? 0) + 1);
  return { hosts: d.registry.list().map((h) => hostToWire(h, perHost.get(h.name) ?? 0, slotHolder(h.name))) };
}

/** The `vonode nodes` list, of one VO or ('' ) all; the VO is validated by the caller. */
export function siteNodes(d: Pick<SiteViewDeps, 'store'>, vo: string): ListNodesResponse {
  return { nodes: d.store.nodes().filter((n) => !vo || n.vo === vo).map(nodeToWire) };
}

/**
 * VoStatus.weight is a uint32 on the wire, which refuses fractions (encoding
 * 1.5 throws, and Status would fail): a fractional weight is shown rounded,
 * and never as 0 for a weight above 0. `vonode policy show` has the exact value.
 */
export function wireWeight(weight: number): number {
  return Math.max(1, Math.round(weight));
}

const KNOWN = new Set<string>([...DEPLOY_PHASES, ...REMOVE_PHASES]);
// Phases the coordinator runs and stamps itself; the others come from the agent of the attempt's host.
const COORDINATOR_PHASES = new Set<PhaseName>(['SR', 'PUB', 'GW', 'DRN']);

/**
 * Per-operation phase durations of the last attempt (the paper's Table 2 and
 * Table 3 rows). Each duration is measured on one clock (the agent's
 * CLOCK_MONOTONIC for CR..VMR and RC..DKR, the coordinator's for SR, PUB, GW
 * and DRN); monotonic clocks of two machines are not comparable, so the
 * total is the wall-clock span from the first phase start to the last phase
 * end. Every mark carries the Unix time of the process that stamped it (the
 * agent's marks are relayed as stamped, not re-stamped on receipt), so with
 * both daemons NTP-synced the total is true elapsed time within their clock
 * offset (ms), relay time between VMR and SR included. It never counts time
 * spent queued before CR (as in the paper). A clock offset cannot shrink it
 * below the sum of each clock's own span; that sum is also the total when a
 * mark lacks its Unix time.
 */
export async function operationTimings(
  store: Pick<StateStore, 'phases'>,
  ops: readonly OperationRecord[],
  toWire: (o: OperationRecord) => OperationTiming['operation'],
): Promise<OperationTiming[]> {
  const out: OperationTiming[] = [];
  // A few reads at a time: each may be a round trip to etcd, and a Table 2 may ask for 10,000 operations.
  for (let i = 0; i < ops.length; i += PHASE_READS_AT_ONCE) {
    const batch = ops.slice(i, i + PHASE_READS_AT_ONCE);
    const rows = await Promise.all(batch.map((op) => store.phases(op.id)));
    batch.forEach((op, j) => out.push(timingOf(op, rows[j]!, toWire)));
  }
  return out;
}

const PHASE_READS_AT_ONCE = 32;

function timingOf(op: OperationRecord, all: readonly PhaseRow[], toWire: (o: OperationRecord) => OperationTiming['operation']): OperationTiming {
  const rows = all.filter((p) => p.attempt === op.attempt && KNOWN.has(p.phase));
  const ends = rows.filter((p) => p.edge === 'end');
  return {
    operation: toWire(op),
    phases: ends.map((p) => ({ phase: phaseMarkToWire({ ...p, operationId: op.id, hostname: op.node }).phase, durationMs: p.durationMs })),
    totalMs: totalSpanMs(rows),
  };
}

/** First start to last end of `rows` on their wall clocks, bounded below by the per-clock spans (see operationTimings); 0 without both edges. */
function totalSpanMs(rows: readonly PhaseRow[]): number {
  const perClock = span(rows.filter((p) => !COORDINATOR_PHASES.has(p.phase)), (p) => p.monotonicMs)
    + span(rows.filter((p) => COORDINATOR_PHASES.has(p.phase)), (p) => p.monotonicMs);
  if (!rows.every((p) => p.unixMs > 0)) return perClock;
  return Math.max(span(rows, (p) => p.unixMs), perClock);
}

/** Latest end minus earliest start by `at`; 0 unless the rows have both a start and an end. */
function span(rows: readonly PhaseRow[], at: (p: PhaseRow) => number): number {
  const starts = rows.filter((p) => p.edge === 'start').map(at);
  const ends = rows.filter((p) => p.edge === 'end').map(at);
  return starts.length && ends.length ? Math.max(0, Math.max(...ends) - Math.min(...starts)) : 0;
}
