import type { NodeRecord, OperationRecord, PhaseRow, UsageRecord } from './records.js';

/** One change of a store transaction, as the backend persists it. */
export type StoreChange =
  /** A lease written (record) or freed (undefined). */
  | { kind: 'node'; hostname: string; record: NodeRecord | undefined; previous: NodeRecord | undefined }
  /** An operation written; `previous` is its record before (undefined: inserted). */
  | { kind: 'operation'; record: OperationRecord; previous: OperationRecord | undefined }
  | { kind: 'phase'; row: PhaseRow }
  /** A usage record written; `previous` is its record before (undefined: inserted, the VM started running). */
  | { kind: 'usage'; record: UsageRecord; previous: UsageRecord | undefined }
  /** A value of the store's meta map (e.g. the last accounting period sent). */
  | { kind: 'meta'; key: string; value: string };

/** What a store holds in memory, read from its backend when it opens. */
export interface LoadedState {
  nodes: NodeRecord[];
  /** Queued, running and retrying operations, in arrival (seq) order. */
  openOperations: OperationRecord[];
  /** Highest operation seq ever written (0 for an empty store). */
  lastSeq: number;
  /** Usage records of the VMs running now (endMs 0). */
  openUsage: UsageRecord[];
}

/**
 * Where a StateStore persists its transactions and reads its history. The
 * StateStore keeps the leases and open operations in memory and checks the
 * invariants there; a backend makes each transaction durable as one unit.
 * - SQLite writes synchronously (a throw rolls the transaction back);
 * - etcd queues the transaction in order and commits it asynchronously,
 *   conditional on the writer still being the leader: `durable()` is the
 *   barrier a caller awaits before acting on what it wrote.
 */
export interface StoreBackend {
  readonly kind: 'sqlite' | 'etcd';
  /** Persists one transaction's changes, all or none. Throws if they cannot even be queued. */
  write(changes: readonly StoreChange[]): void;
  /** Resolves once every change written so far is durable; rejects if it never will be (e.g. deposed). */
  durable(): Promise<void>;
  /** An operation in any state, or undefined. */
  findOperation(id: string): Promise<OperationRecord | undefined>;
  /** The most recent `limit` operations (0 = all), oldest first. */
  recentOperations(limit: number): Promise<OperationRecord[]>;
  /** Phase boundaries of one operation, in arrival order. */
  phases(operationId: string): Promise<PhaseRow[]>;
  /** Usage records whose life overlaps [sinceMs, untilMs): started before untilMs, running or ended after sinceMs; by start. */
  usageRecords(sinceMs: number, untilMs: number): Promise<UsageRecord[]>;
  /** A value of the meta map, or undefined. */
  readMeta(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}
