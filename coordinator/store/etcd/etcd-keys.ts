import type { NodeRecord, OperationRecord, PhaseRow, UsageRecord } from '../records.js';
import { isFinished } from '../records.js';
import type { StoreChange } from '../store-backend.js';

/**
 * The coordinator's key layout in etcd, under the configured prefix:
 *
 *   nodes/<hostname>            a lease (NodeRecord JSON): the triple is leased while it exists
 *   leases/ip/<ip>              hostname holding that IP   (created and deleted with the lease,
 *   leases/mac/<mac>            hostname holding that MAC   each with a "did not exist" compare)
 *   ops/open/<seq>              an operation not finished yet (OperationRecord JSON)
 *   ops/done/<seq>              a finished one (moved there in the transaction that finishes it)
 *   opid/<id>                   seq of an operation id
 *   phases/<opId>/<term>-<n>    one phase boundary (PhaseRow JSON), in arrival order
 *   usage/open/<id>             a running VM's usage record (UsageRecord JSON)
 *   usage/done/<endMs>-<id>     an ended one (moved there in the transaction that ends it; by end time,
 *                               so a period's records are one range read from its start)
 *   meta/values/<key>           a value of the store's meta map (e.g. the last APEL period sent)
 *   meta/writer                 term, address and batch number of the last commit (fencing evidence)
 *   journal/<term>-<n>          a transaction too big for one etcd txn, while it is being applied
 *   election/<lease id>         the coordinators campaigning (value: advertised address)
 *   hosts/<name>                the leader's registry, for standbys (coordinator/ha/host-publisher.ts)
 *
 * seq, term and counters are zero-padded so that key order is numeric order.
 */
export const KEYS = {
  node: (hostname: string) => `nodes/${hostname}`,
  nodes: 'nodes/',
  ipLease: (ip: string) => `leases/ip/${ip}`,
  macLease: (mac: string) => `leases/mac/${mac}`,
  openOp: (seq: number) => `ops/open/${pad(seq, 12)}`,
  doneOp: (seq: number) => `ops/done/${pad(seq, 12)}`,
  openOps: 'ops/open/',
  doneOps: 'ops/done/',
  opId: (id: string) => `opid/${id}`,
  phase: (opId: string, term: number, n: number) => `phases/${opId}/${pad(term, 16)}-${pad(n, 10)}`,
  phasesOf: (opId: string) => `phases/${opId}/`,
  phases: 'phases/',
  openUsage: (id: string) => `usage/open/${id}`,
  doneUsage: (endMs: number, id: string) => `usage/done/${pad(Math.floor(endMs), 15)}-${id}`,
  openUsages: 'usage/open/',
  doneUsages: 'usage/done/',
  /** First usage/done/ key of records ended at or after `ms`. */
  doneUsageFrom: (ms: number) => `usage/done/${pad(Math.max(0, Math.floor(ms)), 15)}`,
  /** Just past every usage/done/ key ('0' follows '/'). */
  doneUsageEnd: 'usage/done0',
  meta: (key: string) => `meta/values/${key}`,
  metas: 'meta/values/',
  writer: 'meta/writer',
  journal: (term: number, n: number) => `journal/${pad(term, 16)}-${pad(n, 10)}`,
  journals: 'journal/',
  election: 'election/',
} as const;

/** A number as a fixed-width decimal string (etcd orders keys bytewise). */
export function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Key writes of a batch: a value to put, or null to delete. */
export type KeyWrites = Map<string, string | null>;

/** What a batch's lease keys must find before it is applied (the CAS that keeps a triple whole and single). */
export interface LeaseCheck {
  /** Keys that must not exist (a new lease). */
  absent: Set<string>;
  /** Keys that must exist (a lease changed or freed). */
  present: Set<string>;
}

/**
 * Adds one store transaction's changes to `writes` (later writes of the
 * same key win: an etcd txn may name a key once). `nextPhase` numbers phase
 * keys; `leased` says which hostnames are leased in etcd before the batch
 * (updated as the batch leases and frees).
 */
export function addChanges(
  writes: KeyWrites,
  changes: readonly StoreChange[],
  nextPhase: () => string,
): void {
  for (const c of changes) {
    if (c.kind === 'phase') writes.set(nextPhaseKey(c.row, nextPhase), JSON.stringify(c.row));
    else if (c.kind === 'node') addNode(writes, c.hostname, c.record, c.previous);
    else if (c.kind === 'usage') addUsage(writes, c.record);
    else if (c.kind === 'meta') writes.set(KEYS.meta(c.key), c.value);
    else addOperation(writes, c.record, c.previous);
  }
}

function nextPhaseKey(row: PhaseRow, next: () => string): string {
  return `phases/${row.operationId}/${next()}`;
}

function addNode(writes: KeyWrites, hostname: string, record: NodeRecord | undefined, previous: NodeRecord | undefined): void {
  writes.set(KEYS.node(hostname), record ? JSON.stringify(record) : null);
  const triple = record ?? previous;
  if (!triple) return;
  // A pool triple never changes its IP or MAC: the lease keys follow the lease.
  writes.set(KEYS.ipLease(triple.ip), record ? hostname : null);
  writes.set(KEYS.macLease(triple.mac), record ? hostname : null);
}

function addOperation(writes: KeyWrites, op: OperationRecord, previous: OperationRecord | undefined): void {
  const done = isFinished(op.state);
  if (!previous) writes.set(KEYS.opId(op.id), pad(op.seq, 12));
  if (done) writes.set(KEYS.openOp(op.seq), null);
  writes.set(done ? KEYS.doneOp(op.seq) : KEYS.openOp(op.seq), JSON.stringify(op));
}

function addUsage(writes: KeyWrites, u: UsageRecord): void {
  if (u.status === 'running') {
    writes.set(KEYS.openUsage(u.id), JSON.stringify(u));
    return;
  }
  writes.set(KEYS.openUsage(u.id), null);
  writes.set(KEYS.doneUsage(u.endMs, u.id), JSON.stringify(u));
}

/** Seq of an ops/open/ or ops/done/ key. */
export function seqOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('/') + 1));
}
