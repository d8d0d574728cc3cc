import type { PhaseName } from '../../shared/phases.js';

/** Where a leased node is in its life. */
export type NodeState = 'deploying' | 'running' | 'draining' | 'removing' | 'failed';

/** A pool triple leased to one VO node; the row is the lease. */
export interface NodeRecord {
  hostname: string;
  ip: string;
  mac: string;
  vo: string;
  /** Physical host it runs on ('' until placed). */
  host: string;
  state: NodeState;
  operationId: string;
  sinceMs: number;
  error: string;
}

/** What an operation does to a node. */
export type OperationKind = 'deploy' | 'drain' | 'remove';
/** Operation lifecycle; 'retrying' is a failed attempt that was cleaned up and queued again. */
export type OperationState = 'queued' | 'running' | 'succeeded' | 'failed' | 'retrying';
/** Who asked for an operation. */
export type OperationTrigger = 'manual' | 'policy' | 'recovery';

/** A deployment, drain or removal, persisted before it acts. */
export interface OperationRecord {
  id: string;
  /** Arrival order (FIFO dispatch). */
  seq: number;
  kind: OperationKind;
  state: OperationState;
  vo: string;
  node: string;
  /** Host of the current or last attempt. */
  host: string;
  /** Host the admin asked for ('' = placement chooses). */
  pinnedHost: string;
  attempt: number;
  /** Hosts where an attempt failed; placement avoids them. */
  excludedHosts: string[];
  error: string;
  trigger: OperationTrigger;
  createdMs: number;
  finishedMs: number;
}

/** One persisted phase boundary. */
export interface PhaseRow {
  operationId: string;
  attempt: number;
  host: string;
  phase: PhaseName;
  edge: 'start' | 'end';
  monotonicMs: number;
  unixMs: number;
  durationMs: number;
  details: Record<string, string>;
}

/** True for operation states that will not change any more. */
export function isFinished(state: OperationState): boolean {
  return state === 'succeeded' || state === 'failed';
}

/** How a VM's life ended: drained or removed on request, or lost (its deployment failed after it ran, or it vanished). */
export type UsageEndStatus = 'drained' | 'removed' | 'failed';
/** A usage record's status: 'running' until the VM's life ends. */
export type UsageStatus = 'running' | UsageEndStatus;

/**
 * One VM's life, for accounting: written by the leader when the node starts
 * running (status 'running', endMs 0) and closed when its life ends, in the
 * same store transactions that change the node.
 */
export interface UsageRecord {
  /** Unique per VM life: the deploying operation's id and its attempt (`<operation id>.<attempt>`). */
  id: string;
  vo: string;
  /** The node's hostname (pool triple). */
  node: string;
  /** Physical host it ran on. */
  host: string;
  /** Root disk image of the appliance. */
  imageUrl: string;
  imageSha256: string;
  /** The appliance's id (e.g. a marketplace identifier), '' when not known. */
  applianceId: string;
  vcpus: number;
  memoryMb: number;
  /** Unix ms the node started running. */
  startMs: number;
  /** Unix ms its life ended; 0 while it runs. */
  endMs: number;
  status: UsageStatus;
  /** The deployment that started it. */
  startOperationId: string;
  /** The drain or removal that ended it ('' while running, or when it ended without one, e.g. vanished). */
  endOperationId: string;
}

/** Id of the usage record of a deployment attempt. */
export function usageId(operationId: string, attempt: number): string {
  return `${operationId}.${attempt}`;
}
