import type { NodeRecord } from '../store/records.js';

/**
 * Takes a node out of service before its VM is removed: in the batch system,
 * disable its queue instance, wait for its running jobs to end, deregister it.
 * Must never kill a job. The batch-system adapters (coordinator/lrms/) implement it.
 */
export interface NodeDrainer {
  /** Resolves once the node runs no job and the batch system has forgotten it; rejects if that cannot be done. */
  drain(node: NodeRecord, signal: AbortSignal): Promise<void>;
}
