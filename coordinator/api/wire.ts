import { HostState, NodeState, OperationKind, OperationState, type Host, type Node, type Operation, type UsageRecord as WireUsageRecord } from '../../shared/gen/vonode/v1/coordinator.js';
import type { HostView } from '../inventory/agent-registry.js';
import type { NodeRecord, OperationRecord, UsageRecord } from '../store/records.js';

const NODE_STATE: Record<NodeRecord['state'], NodeState> = {
  deploying: NodeState.NODE_STATE_DEPLOYING,
  running: NodeState.NODE_STATE_RUNNING,
  draining: NodeState.NODE_STATE_DRAINING,
  removing: NodeState.NODE_STATE_REMOVING,
  failed: NodeState.NODE_STATE_FAILED,
};
const OP_KIND: Record<OperationRecord['kind'], OperationKind> = {
  deploy: OperationKind.OPERATION_KIND_DEPLOY,
  drain: OperationKind.OPERATION_KIND_DRAIN,
  remove: OperationKind.OPERATION_KIND_REMOVE,
};
const OP_STATE: Record<OperationRecord['state'], OperationState> = {
  queued: OperationState.OPERATION_STATE_QUEUED,
  running: OperationState.OPERATION_STATE_RUNNING,
  succeeded: OperationState.OPERATION_STATE_SUCCEEDED,
  failed: OperationState.OPERATION_STATE_FAILED,
  retrying: OperationState.OPERATION_STATE_RETRYING,
};

/** Node record → wire Node. */
export function nodeToWire(n: NodeRecord): Node {
  return { hostname: n.hostname, ip: n.ip, mac: n.mac, vo: n.vo, host: n.host, state: NODE_STATE[n.state], operationId: n.operationId, sinceUnixMs: n.sinceMs, error: n.error };
}

/** Operation record → wire Operation. */
export function operationToWire(o: OperationRecord): Operation {
  return {
    id: o.id, kind: OP_KIND[o.kind], state: OP_STATE[o.state], vo: o.vo, node: o.node, host: o.host, attempt: o.attempt,
    error: o.error, createdUnixMs: o.createdMs, finishedUnixMs: o.finishedMs, trigger: o.trigger,
  };
}

/** Usage record → wire UsageRecord. */
export function usageToWire(u: UsageRecord): WireUsageRecord {
  return {
    id: u.id, vo: u.vo, node: u.node, host: u.host, imageUrl: u.imageUrl, imageSha256: u.imageSha256, applianceId: u.applianceId,
    vcpus: u.vcpus, memoryMb: u.memoryMb, startUnixMs: u.startMs, endUnixMs: u.endMs, status: u.status,
    startOperationId: u.startOperationId, endOperationId: u.endOperationId,
  };
}

const USAGE_STATUSES: ReadonlySet<string> = new Set<UsageRecord['status']>(['running', 'drained', 'removed', 'failed']);

/** Wire UsageRecord → usage record (an unknown status reads as failed). */
export function usageFromWire(u: WireUsageRecord): UsageRecord {
  return {
    id: u.id, vo: u.vo, node: u.node, host: u.host, imageUrl: u.imageUrl, imageSha256: u.imageSha256, applianceId: u.applianceId,
    vcpus: u.vcpus, memoryMb: u.memoryMb, startMs: u.startUnixMs, endMs: u.endUnixMs,
    status: USAGE_STATUSES.has(u.status) ? (u.status as UsageRecord['status']) : 'failed',
    startOperationId: u.startOperationId, endOperationId: u.endOperationId,
  };
}

/** Registry view → wire Host. */
export function hostToWire(h: HostView, nodes: number, activeOperation: string): Host {
  return {
    name: h.name, address: h.address, state: h.state === 'up' ? HostState.HOST_STATE_UP : HostState.HOST_STATE_DOWN,
    facts: h.facts, lastSeenUnixMs: h.lastSeenUnixMs, nodes, activeOperation,
  };
}
