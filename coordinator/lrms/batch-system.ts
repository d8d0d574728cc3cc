import type { NodeDrainer } from '../deploy/node-drainer.js';
import type { NodeRecord } from '../store/records.js';

/** Jobs of one VO queue, the demand the scaling loop reads. */
export interface QueueDemand {
  queue: string;
  /** Jobs waiting that asked for this queue. */
  pending: number;
  /** Jobs running in this queue. */
  running: number;
}

/** A vonode node as the batch system sees it. */
export interface BatchHost {
  hostname: string;
  queue: string;
  /** available: takes jobs; disabled: drained (takes none); unreachable: its daemon stopped reporting. */
  state: 'available' | 'disabled' | 'unreachable';
  runningJobs: number;
}

/** What registering a node needs beyond its lease. */
export interface BatchNode {
  node: NodeRecord;
  queue: string;
  slots: number;
}

/**
 * A batch system (LRMS) behind one interface: SGE (coordinator/lrms/sge/)
 * and Slurm (coordinator/lrms/slurm/). Draining (NodeDrainer.drain) disables
 * the node, waits for its running jobs to end, and deregisters it: it never
 * kills a job.
 */
export interface BatchSystem extends NodeDrainer {
  readonly kind: 'sge' | 'slurm';
  /** Pending and running jobs per queue. Throws if the batch system cannot be asked. */
  demand(queues: readonly string[]): Promise<Map<string, QueueDemand>>;
  /** Makes the node an execution host of its VO's queue; resolves once the batch system lists it available (SR end). */
  register(node: BatchNode, signal: AbortSignal): Promise<void>;
  /** Forgets a node at once (after its VM is gone). Idempotent. */
  deregister(hostname: string): Promise<void>;
  /** The vonode nodes the batch system knows, to find ones that vanished without being removed. */
  hosts(): Promise<BatchHost[]>;
  /** Makes sure every VO queue exists and accepts jobs even with no node (at start and on policy change). */
  prepare?(vos: ReadonlyArray<{ vo: string; queue: string }>): Promise<void>;
}
