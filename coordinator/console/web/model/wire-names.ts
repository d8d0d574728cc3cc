// Enum names as they appear in the proto3 JSON bodies, and the rules the
// console derives from them.
import type { OperationJson } from './api-types.js';

/** NodeState names in the proto's order (what the state filter offers). */
export const NODE_STATES = ['NODE_STATE_DEPLOYING', 'NODE_STATE_RUNNING', 'NODE_STATE_DRAINING', 'NODE_STATE_REMOVING', 'NODE_STATE_FAILED'] as const;

/** OperationKind names. */
export const OPERATION_KIND = {
  deploy: 'OPERATION_KIND_DEPLOY',
  drain: 'OPERATION_KIND_DRAIN',
  remove: 'OPERATION_KIND_REMOVE',
} as const;

/** OperationState names. */
export const OPERATION_STATE = {
  queued: 'OPERATION_STATE_QUEUED',
  running: 'OPERATION_STATE_RUNNING',
  succeeded: 'OPERATION_STATE_SUCCEEDED',
  failed: 'OPERATION_STATE_FAILED',
  retrying: 'OPERATION_STATE_RETRYING',
} as const;

/** HostState names. */
export const HOST_STATE = { up: 'HOST_STATE_UP', down: 'HOST_STATE_DOWN' } as const;

/** Whether an operation will not change any more (succeeded or failed). */
export function isOperationFinished(op: OperationJson | undefined): boolean {
  return op?.state === OPERATION_STATE.succeeded || op?.state === OPERATION_STATE.failed;
}

/** Whether an operation is a drain or removal (its phases are the removal ones). */
export function isRemoval(op: OperationJson | undefined): boolean {
  return op?.kind === OPERATION_KIND.drain || op?.kind === OPERATION_KIND.remove;
}

/**
 * Whether the node an operation is about has left the site once the
 * operation is in this state: the coordinator frees the node's triple (and
 * sends no node event for it) when a drain or removal succeeds and when a
 * deployment fails for good (coordinator/deploy/operation-runner.ts). There is
 * no "gone" NodeState: this is the only signal on the stream.
 */
export function nodeLeavesWith(op: OperationJson): boolean {
  if (op.state === OPERATION_STATE.succeeded) return isRemoval(op);
  return op.state === OPERATION_STATE.failed && op.kind === OPERATION_KIND.deploy;
}
