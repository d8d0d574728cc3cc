import type { NodeRecord, OperationRecord, PhaseRow } from './records.js';

/** One change of a store transaction, as the backend persists it. */
export type StoreChange =
  /** A lease written (record) or freed (undefined). */
  | { kind: 'node'; hostname: string; record: NodeRecord | undefined; previous: NodeRecord | undefined }
  /** An operation written; `previous` is its record before (undefined: inserted). */
  | { kind: 'operation'; record: OperationRecord; previous: OperationRecord | undefined }
  | { kind: 'phase'; row: PhaseRow };

/** What a store holds in memory, read from its backend when it opens. */
export interface LoadedState {
  nodes: NodeRecord[];
  /** Queued, running and retrying operations, in arrival (seq) order. */
  openOperations: OperationRecord[];
  /** Highest operation seq ever written (0 for an empty store). */
  lastSeq: number;
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
  close(): Promise<void>;
}
