import type { HostJson, ImageHoldingJson, NodeJson } from './api-types.js';
import type { OperationEntry } from './site-model.js';
import { HOST_STATE, isOperationFinished, OPERATION_STATE } from './wire-names.js';

/** A row of the hosts table. */
export interface HostRow {
  name: string;
  up: boolean;
  /** `up`, `down` or `-`. */
  state: string;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  /** Memory of the domains the agent runs. */
  memoryCommittedBytes: number;
  vcpus: number;
  /** vonode nodes placed on the host, from the live node table. */
  nodes: number;
  /** Of those, running. */
  runningNodes: number;
  /** sha256 of the complete cached images. */
  cachedImages: string[];
  /** Images being fetched piece-wise now. */
  fetching: ImageHoldingJson[];
  /** The deployment or removal holding the host's slot, if any. */
  slotOperationId: string | undefined;
  lastSeenUnixMs: number;
  address: string;
}

/** Nodes per host (all, and running), from the node table: O(nodes), so memoize on the nodes version. */
export function nodesPerHost(nodes: Iterable<NodeJson>): Map<string, { all: number; running: number }> {
  const out = new Map<string, { all: number; running: number }>();
  for (const n of nodes) {
    if (!n.host) continue;
    const c = out.get(n.host) ?? { all: 0, running: 0 };
    c.all++;
    if (n.state === 'NODE_STATE_RUNNING') c.running++;
    out.set(n.host, c);
  }
  return out;
}

/** The running operation per host, from the recent operations (one operation holds a host at a time). */
export function runningOperationPerHost(operations: Iterable<OperationEntry>): Map<string, string> {
  const out = new Map<string, string>();
  for (const { operation: o } of operations) if (o.host && o.state === OPERATION_STATE.running) out.set(o.host, o.id);
  return out;
}

/**
 * The hosts table, sorted by name. The slot holder is the running operation
 * on the host as the events tell, else the snapshot's `activeOperation`
 * unless that operation has finished since.
 */
export function hostRows(
  hosts: Iterable<HostJson>,
  perHost: ReadonlyMap<string, { all: number; running: number }>,
  runningOps: ReadonlyMap<string, string>,
  operations: ReadonlyMap<string, OperationEntry>,
): HostRow[] {
  const rows: HostRow[] = [];
  for (const h of hosts) {
    const f = h.facts ?? {};
    const total = f.memoryTotalBytes ?? 0;
    const counts = perHost.get(h.name);
    const snapshotOp = h.activeOperation && !isOperationFinished(operations.get(h.activeOperation)?.operation) ? h.activeOperation : undefined;
    rows.push({
      name: h.name,
      up: h.state === HOST_STATE.up,
      state: h.state === HOST_STATE.up ? 'up' : h.state === HOST_STATE.down ? 'down' : '-',
      memoryUsedBytes: Math.max(0, total - (f.memoryAvailableBytes ?? total)),
      memoryTotalBytes: total,
      memoryCommittedBytes: f.memoryCommittedBytes ?? 0,
      vcpus: f.cpus ?? 0,
      nodes: counts?.all ?? 0,
      runningNodes: counts?.running ?? 0,
      cachedImages: f.cachedImages ?? [],
      fetching: (f.holdings ?? []).filter((x) => !x.complete),
      slotOperationId: runningOps.get(h.name) ?? snapshotOp,
      lastSeenUnixMs: h.lastSeenUnixMs ?? 0,
      address: h.address ?? '',
    });
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}
