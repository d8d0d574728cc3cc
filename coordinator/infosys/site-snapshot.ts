import {
  NodeState,
  type ListNodesResponse,
  type PolicyResponse,
  type StatusResponse,
} from '../../shared/gen/vonode/v1/coordinator.js';
import { FailedPreconditionError } from '../../shared/errors.js';
import { checkPolicyText, formatProblem } from '../policy/policy-check.js';

// What the information system publishes about the site (DESIGN §5), as plain
// data: the GLUE 2.0 and GLUE 1.3 writers turn it into LDIF and know nothing
// of gRPC or the policy file.

/** Virtual worker nodes of one VO by state. */
export interface NodeCounts {
  /** Up and taking jobs. */
  running: number;
  /** Being deployed: not yet capacity. */
  deploying: number;
  /** Draining or being removed: still up, takes no new jobs. */
  draining: number;
}

/** Job slots of one VO queue. */
export interface SlotCounts {
  /** Slots of the nodes that are up: (running + draining) × slotsPerNode. */
  total: number;
  /** Slots a new job could start in: running nodes' slots minus running jobs, never below 0. */
  free: number;
  /** Slots the VO may grow to: policy max × slotsPerNode. */
  max: number;
}

/** Jobs of one VO queue. */
export interface JobCounts {
  total: number;
  running: number;
  waiting: number;
}

/** One VO queue as published: one GLUE 2.0 ComputingShare / one GLUE 1.3 CE. */
export interface VoSnapshot {
  vo: string;
  /** Batch queue of the VO (GLUE2ComputingShareMappingQueue, GlueCEName). */
  queue: string;
  /** Fair-share weight from the policy. */
  weight: number;
  nodes: NodeCounts;
  slotsPerNode: number;
  /** Size of one node. */
  vm: { vcpus: number; memoryMb: number };
  slots: SlotCounts;
  jobs: JobCounts;
}

/** The site as it is now: what the BDII provider publishes. VOs sorted by name. */
export interface SiteSnapshot {
  site: string;
  vos: VoSnapshot[];
}

/**
 * Jobs of one queue as the batch system reports them (the shape of the
 * values of BatchSystem.demand() in coordinator/lrms: `pending` is waiting).
 */
export interface QueueJobs {
  pending: number;
  running: number;
}

/** The coordinator's answers a snapshot is built from. */
export interface SnapshotSources {
  status: StatusResponse;
  nodes: ListNodesResponse;
  policy: PolicyResponse;
  /**
   * Jobs per queue name. The coordinator does not read the batch system yet,
   * so this is optional and a queue missing from it has 0 running and 0
   * waiting jobs (its free slots are then all of its running nodes' slots).
   */
  jobs?: ReadonlyMap<string, QueueJobs>;
}

const count = (n: number | undefined): number => (n !== undefined && Number.isSafeInteger(n) && n > 0 ? n : 0);

/**
 * Builds the snapshot from the coordinator's Status (site name), ListNodes
 * (node counts per VO and state) and GetPolicy (queue, weight, slots per
 * node, VM size and max of each VO in the policy in force) answers. Nodes of a
 * VO that is no longer in the policy are not published (it has no queue).
 * Throws FailedPreconditionError if the policy text does not check (it is the
 * one in force, so that means a coordinator bug or a version mismatch).
 */
export function buildSiteSnapshot(src: SnapshotSources): SiteSnapshot {
  const checked = checkPolicyText(src.policy.yaml, '(policy in force)');
  if (!checked.ok) {
    throw new FailedPreconditionError(`the coordinator's policy in force does not check: ${checked.problems.map(formatProblem).join('; ')}`);
  }
  const vos = checked.policy.vos.map((vo): VoSnapshot => {
    const mine = src.nodes.nodes.filter((n) => n.vo === vo.name);
    const inState = (...states: NodeState[]): number => mine.filter((n) => states.includes(n.state)).length;
    const nodes: NodeCounts = {
      running: inState(NodeState.NODE_STATE_RUNNING),
      deploying: inState(NodeState.NODE_STATE_DEPLOYING),
      draining: inState(NodeState.NODE_STATE_DRAINING, NodeState.NODE_STATE_REMOVING),
    };
    const q = src.jobs?.get(vo.queue);
    const running = count(q?.running);
    const waiting = count(q?.pending);
    const total = (nodes.running + nodes.draining) * vo.slotsPerNode;
    // Jobs may sit on draining nodes, so the running nodes' free slots are at
    // most all their slots and at most what the running jobs leave of the total.
    const free = Math.max(0, Math.min(nodes.running * vo.slotsPerNode, total - running));
    return {
      vo: vo.name,
      queue: vo.queue,
      weight: vo.weight,
      nodes,
      slotsPerNode: vo.slotsPerNode,
      vm: { vcpus: vo.vm.vcpus, memoryMb: vo.vm.memoryMb },
      slots: { total, free, max: vo.max * vo.slotsPerNode },
      jobs: { total: running + waiting, running, waiting },
    };
  });
  vos.sort((a, b) => (a.vo < b.vo ? -1 : a.vo > b.vo ? 1 : 0));
  return { site: src.status.site, vos };
}
