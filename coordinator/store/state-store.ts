import { isFinished, type NodeRecord, type NodeState, type OperationRecord, type OperationState, type PhaseRow, type UsageEndStatus, type UsageRecord } from './records.js';
import type { LoadedState, StoreBackend, StoreChange } from './store-backend.js';

export type { NodeRecord, NodeState, OperationRecord, OperationState, PhaseRow, UsageRecord };

/** Operation states that are not final: their records are kept in memory. */
const OPEN_STATES: ReadonlySet<OperationState> = new Set<OperationState>(['queued', 'running', 'retrying']);
/** Finished operations kept in memory too (timings and lookups right after they end, before a slow backend has them). */
const RECENTLY_FINISHED = 1000;

/** A write the store refuses because of who the writer is (a standby, or a leader that lost its term). */
export interface WriteGuard {
  /** Throws (NotLeaderError) if this process may not write now. */
  assertWritable(): void;
}

/** Thrown when a lease would give a hostname, IP or MAC to two nodes. */
export class LeaseConflictError extends Error {}

/**
 * The coordinator's durable state: leases (nodes), operations and phases.
 *
 * The leased nodes and the operations not yet finished live in memory (with
 * indexes by IP and MAC), so the hot paths (every dispatch pass, status,
 * metrics) never ask the backend, and the invariants are checked here, the
 * same for every backend: a triple is leased whole to one node (UNIQUE
 * hostname, IP and MAC), the queue keeps arrival order (seq only grows).
 * Every transaction goes to the backend as one unit: SQLite commits it at
 * once, etcd commits it in order and fenced by the leader's term (see
 * `durable()`, the barrier before acting). A transaction that throws undoes
 * its in-memory changes and writes nothing. Records handed out are frozen:
 * a change goes through the store or nowhere.
 */
export class StateStore {
  private readonly nodeCache = new Map<string, NodeRecord>();
  private readonly ipOwner = new Map<string, string>();
  private readonly macOwner = new Map<string, string>();
  private sortedNodes: NodeRecord[] | undefined;
  /** Open operations in arrival order (a Map keeps insertion order; seq only grows). */
  private readonly openOps = new Map<string, OperationRecord>();
  private readonly finished = new Map<string, OperationRecord>();
  private lastSeq: number;
  /** Usage records of the VMs running now, by node hostname. */
  private readonly openUsage = new Map<string, UsageRecord>();
  /** The running transaction: its changes for the backend and how to undo them in memory. */
  private tx: { changes: StoreChange[]; undo: Array<() => void> } | undefined;

  constructor(
    private readonly backend: StoreBackend,
    loaded: LoadedState,
    private readonly guard?: WriteGuard,
  ) {
    for (const n of loaded.nodes) this.indexNode(Object.freeze({ ...n }));
    for (const op of loaded.openOperations) this.openOps.set(op.id, freezeOp({ ...op }));
    for (const u of loaded.openUsage) this.openUsage.set(u.node, Object.freeze({ ...u }));
    this.lastSeq = loaded.lastSeq;
  }

  /** Which backend persists this store. */
  get kind(): StoreBackend['kind'] {
    return this.backend.kind;
  }

  /** Runs `fn` atomically; a throw undoes everything it changed and nothing reaches the backend. */
  transaction<T>(fn: () => T): T {
    if (this.tx) return fn(); // nested: part of the outer transaction
    this.guard?.assertWritable();
    const tx = (this.tx = { changes: [] as StoreChange[], undo: [] as Array<() => void> });
    try {
      const result = fn();
      if (tx.changes.length) this.backend.write(tx.changes);
      return result;
    } catch (e) {
      for (const step of tx.undo.reverse()) step();
      throw e;
    } finally {
      this.tx = undefined;
    }
  }

  /** Resolves when every write made so far is durable; rejects if it never will be (this process lost the right to write). */
  durable(): Promise<void> {
    return this.backend.durable();
  }

  // ---- a standby's view: changes the leader committed ----

  /** Replaces everything in memory by a fresh read (a standby's view after its watch broke). */
  resetReplicated(loaded: LoadedState): void {
    for (const n of [...this.nodeCache.values()]) this.unindexNode(n);
    this.openOps.clear();
    this.finished.clear();
    this.openUsage.clear();
    for (const n of loaded.nodes) this.indexNode(Object.freeze({ ...n }));
    for (const op of loaded.openOperations) this.openOps.set(op.id, freezeOp({ ...op }));
    for (const u of loaded.openUsage) this.openUsage.set(u.node, Object.freeze({ ...u }));
    this.lastSeq = loaded.lastSeq;
  }

  /** A usage record the leader wrote (an ended one closes the node's open record). Memory only. */
  replicateUsage(record: UsageRecord): void {
    const open = this.openUsage.get(record.node);
    if (record.status === 'running') this.openUsage.set(record.node, Object.freeze({ ...record }));
    else if (open?.id === record.id) this.openUsage.delete(record.node);
  }

  /** A usage record the leader closed, known by id only (its open key deleted). Memory only. */
  replicateUsageClosed(id: string): void {
    for (const [node, u] of this.openUsage) if (u.id === id) this.openUsage.delete(node);
  }

  /** A lease the leader wrote (record) or freed (undefined). Memory only. */
  replicateNode(hostname: string, record: NodeRecord | undefined): void {
    this.unindexNode(this.nodeCache.get(hostname));
    if (record) this.indexNode(Object.freeze({ ...record }));
  }

  /** An operation record the leader wrote. Memory only. */
  replicateOperation(op: OperationRecord): void {
    const rec = freezeOp({ ...op, excludedHosts: [...op.excludedHosts] });
    if (OPEN_STATES.has(rec.state)) {
      this.openOps.set(rec.id, rec);
    } else {
      this.openOps.delete(rec.id);
      this.rememberFinished(rec);
    }
    this.lastSeq = Math.max(this.lastSeq, rec.seq);
  }

  // ---- nodes (pool leases) ----

  /** Every leased node, by hostname (from memory; a new array each call). */
  nodes(): NodeRecord[] {
    this.sortedNodes ??= [...this.nodeCache.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
    return this.sortedNodes.slice();
  }

  /** Leased nodes. */
  get nodeCount(): number {
    return this.nodeCache.size;
  }

  /** One node, or undefined. */
  node(hostname: string): NodeRecord | undefined {
    return this.nodeCache.get(hostname);
  }

  /** Inserts a lease; throws LeaseConflictError if the hostname, IP or MAC is already leased. */
  insertNode(n: NodeRecord): void {
    this.transaction(() => {
      const taken = this.nodeCache.has(n.hostname) ? `hostname ${n.hostname}` : this.ipOwner.has(n.ip) ? `IP ${n.ip}` : this.macOwner.has(n.mac) ? `MAC ${n.mac}` : '';
      if (taken) throw new LeaseConflictError(`UNIQUE lease violated: ${taken} is already leased; a pool triple goes whole to one node`);
      this.setNode(n.hostname, Object.freeze({ ...n }));
    });
  }

  /** Updates the mutable fields of a node (nothing if it is not leased). */
  updateNode(hostname: string, patch: Partial<Pick<NodeRecord, 'host' | 'state' | 'operationId' | 'sinceMs' | 'error'>>): void {
    const cur = this.node(hostname);
    if (!cur) return;
    this.transaction(() => this.setNode(hostname, Object.freeze({ ...cur, ...patch })));
  }

  /** Frees the triple (idempotent). */
  deleteNode(hostname: string): void {
    if (!this.nodeCache.has(hostname)) return;
    this.transaction(() => this.setNode(hostname, undefined));
  }

  private setNode(hostname: string, next: NodeRecord | undefined): void {
    const prev = this.nodeCache.get(hostname);
    this.unindexNode(prev);
    if (next) this.indexNode(next);
    this.record({ kind: 'node', hostname, record: next, previous: prev }, () => {
      this.unindexNode(next);
      if (prev) this.indexNode(prev);
    });
  }

  private indexNode(n: NodeRecord): void {
    this.nodeCache.set(n.hostname, n);
    this.ipOwner.set(n.ip, n.hostname);
    this.macOwner.set(n.mac, n.hostname);
    this.sortedNodes = undefined;
  }

  private unindexNode(n: NodeRecord | undefined): void {
    if (!n) return;
    this.nodeCache.delete(n.hostname);
    this.ipOwner.delete(n.ip);
    this.macOwner.delete(n.mac);
    this.sortedNodes = undefined;
  }

  // ---- operations ----

  /** Inserts an operation; `seq` is assigned here (arrival order). */
  insertOperation(op: Omit<OperationRecord, 'seq'>): OperationRecord {
    return this.transaction(() => {
      if (this.openOps.has(op.id) || this.finished.has(op.id)) throw new LeaseConflictError(`UNIQUE operation id violated: ${op.id} exists`);
      const rec = freezeOp({ ...op, excludedHosts: [...op.excludedHosts], seq: ++this.lastSeq });
      this.tx!.undo.push(() => this.lastSeq--);
      this.setOperation(rec, undefined);
      return rec;
    });
  }

  /**
   * Migration only (`vonode-coordinator migrate-store`): writes an operation
   * record exactly as another store holds it (its seq, state, attempt and
   * times), through the same change path as insertOperation. Records must
   * come in seq order: a seq not above every seq this store holds is refused
   * (RangeError), so arrival order is the source's and the last seq ends as
   * its highest. A known id is refused (LeaseConflictError).
   */
  importOperation(record: OperationRecord): void {
    this.transaction(() => {
      if (this.openOps.has(record.id) || this.finished.has(record.id)) throw new LeaseConflictError(`UNIQUE operation id violated: ${record.id} exists`);
      if (!Number.isSafeInteger(record.seq) || record.seq <= this.lastSeq) {
        throw new RangeError(`operation ${record.id}: seq ${record.seq} is not above the last seq ${this.lastSeq}; operations are imported in seq order`);
      }
      const previousSeq = this.lastSeq;
      this.lastSeq = record.seq;
      this.tx!.undo.push(() => (this.lastSeq = previousSeq));
      this.setOperation(freezeOp({ ...record, excludedHosts: [...record.excludedHosts] }), undefined);
    });
  }

  /** Updates an open operation's mutable fields; returns the new record (undefined if it is not open). */
  updateOperation(id: string, patch: Partial<Omit<OperationRecord, 'id' | 'seq' | 'kind' | 'createdMs'>>): OperationRecord | undefined {
    const cur = this.openOps.get(id);
    if (!cur) return undefined;
    const next = freezeOp({ ...cur, ...patch, excludedHosts: [...(patch.excludedHosts ?? cur.excludedHosts)] });
    return this.transaction(() => {
      this.setOperation(next, cur);
      return next;
    });
  }

  private setOperation(op: OperationRecord, prev: OperationRecord | undefined): void {
    const wasFinished = this.finished.get(op.id);
    if (OPEN_STATES.has(op.state)) this.openOps.set(op.id, op);
    else {
      this.openOps.delete(op.id);
      this.rememberFinished(op);
    }
    this.record({ kind: 'operation', record: op, previous: prev }, () => {
      if (prev) this.openOps.set(op.id, prev);
      else this.openOps.delete(op.id);
      this.finished.delete(op.id);
      if (wasFinished) this.finished.set(op.id, wasFinished);
    });
  }

  private rememberFinished(op: OperationRecord): void {
    this.finished.delete(op.id);
    this.finished.set(op.id, op);
    if (this.finished.size > RECENTLY_FINISHED) this.finished.delete(this.finished.keys().next().value!);
  }

  /** An open operation (queued, running, retrying) or one finished recently, from memory; undefined otherwise. */
  operation(id: string): OperationRecord | undefined {
    return this.openOps.get(id) ?? this.finished.get(id);
  }

  /** An operation in any state (finished ones may come from the backend). */
  async findOperation(id: string): Promise<OperationRecord | undefined> {
    const known = this.operation(id);
    if (known) return known;
    const stored = await this.backend.findOperation(id);
    return stored && freezeOp(stored);
  }

  /** Open operations in any of `states` (all open states), oldest first. */
  operationsIn(states: readonly OperationState[]): OperationRecord[] {
    const wanted = new Set(states);
    const out: OperationRecord[] = [];
    for (const op of this.openOps.values()) if (wanted.has(op.state)) out.push(op);
    return out;
  }

  /** Open operations (queued, running, retrying) in arrival order, without copying: iterate, do not keep. */
  openOperations(): IterableIterator<OperationRecord> {
    return this.openOps.values();
  }

  /** How many operations are in `state` (an open state: counted in memory). */
  countOpen(state: OperationState): number {
    let n = 0;
    for (const op of this.openOps.values()) if (op.state === state) n++;
    return n;
  }

  /** The most recent `limit` operations (0 = all), oldest first. */
  async recentOperations(limit: number): Promise<OperationRecord[]> {
    await this.settled();
    const stored = await this.backend.recentOperations(limit);
    // Memory is newer than a backend that commits asynchronously: its records win.
    const byId = new Map(stored.map((o) => [o.id, o]));
    for (const op of [...this.finished.values(), ...this.openOps.values()]) byId.set(op.id, op);
    const all = [...byId.values()].sort((a, b) => a.seq - b.seq);
    return (limit > 0 ? all.slice(-limit) : all).map(freezeOp);
  }

  // ---- usage records (accounting) ----

  /**
   * Opens the usage record of a VM that starts running now (status
   * 'running', endMs 0). A node with an open record keeps it and nothing is
   * written (an adopted deployment whose start was recorded before a
   * restart); returns the node's open record either way.
   */
  startUsage(record: Omit<UsageRecord, 'endMs' | 'status' | 'endOperationId'>): UsageRecord {
    const existing = this.openUsage.get(record.node);
    if (existing) return existing;
    return this.transaction(() => {
      const rec: UsageRecord = Object.freeze({ ...record, endMs: 0, status: 'running', endOperationId: '' });
      this.openUsage.set(rec.node, rec);
      this.record({ kind: 'usage', record: rec, previous: undefined }, () => this.openUsage.delete(rec.node));
      return rec;
    });
  }

  /**
   * Closes the open usage record of `node` (its VM's life ended at `endMs`,
   * never before it started); returns the closed record, or undefined when
   * the node has none open (it never ran, or was closed already).
   */
  endUsage(node: string, end: { endMs: number; status: UsageEndStatus; endOperationId: string }): UsageRecord | undefined {
    const open = this.openUsage.get(node);
    if (!open) return undefined;
    return this.transaction(() => {
      const rec: UsageRecord = Object.freeze({ ...open, endMs: Math.max(end.endMs, open.startMs), status: end.status, endOperationId: end.endOperationId });
      this.openUsage.delete(node);
      this.record({ kind: 'usage', record: rec, previous: open }, () => this.openUsage.set(node, open));
      return rec;
    });
  }

  /**
   * Migration only (`vonode-coordinator migrate-store`): writes a usage
   * record exactly as another store holds it (open or ended). Throws
   * LeaseConflictError if its node already has an open record.
   */
  importUsage(record: UsageRecord): void {
    this.transaction(() => {
      const rec = Object.freeze({ ...record });
      if (rec.status === 'running') {
        if (this.openUsage.has(rec.node)) throw new LeaseConflictError(`node ${rec.node} already has an open usage record`);
        this.openUsage.set(rec.node, rec);
      }
      this.record({ kind: 'usage', record: rec, previous: undefined }, () => {
        if (this.openUsage.get(rec.node) === rec) this.openUsage.delete(rec.node);
      });
    });
  }

  /** The open usage record of a node (from memory), or undefined. */
  usage(node: string): UsageRecord | undefined {
    return this.openUsage.get(node);
  }

  /** Usage records of the VMs running now, by node. */
  openUsageRecords(): UsageRecord[] {
    return [...this.openUsage.values()].sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : 1));
  }

  /**
   * Usage records whose life overlaps [sinceMs, untilMs) (started before
   * untilMs; running, or ended after sinceMs), by start time. An ended
   * record wins over an open one of the same id (a standby's memory may lag
   * etcd; a VM's life never reopens).
   */
  async usageRecords(sinceMs: number, untilMs: number): Promise<UsageRecord[]> {
    await this.settled();
    const stored = await this.backend.usageRecords(sinceMs, untilMs);
    const byId = new Map<string, UsageRecord>();
    for (const u of this.openUsage.values()) if (u.startMs < untilMs) byId.set(u.id, u);
    for (const u of stored) {
      const known = byId.get(u.id);
      if (!known || known.status === 'running') byId.set(u.id, Object.freeze({ ...u }));
    }
    return [...byId.values()].sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : 1));
  }

  // ---- meta ----

  /** Sets a value of the store's meta map (in the running transaction, or in one of its own). */
  writeMeta(key: string, value: string): void {
    this.transaction(() => this.record({ kind: 'meta', key, value }, () => undefined));
  }

  /** A value of the store's meta map, or undefined. */
  async readMeta(key: string): Promise<string | undefined> {
    await this.settled();
    return this.backend.readMeta(key);
  }

  // ---- phases ----

  /** Appends one phase boundary. */
  insertPhase(p: PhaseRow): void {
    this.transaction(() => this.record({ kind: 'phase', row: p }, () => undefined));
  }

  /** Phase boundaries of one operation, in arrival order. */
  async phases(operationId: string): Promise<PhaseRow[]> {
    await this.settled();
    return this.backend.phases(operationId);
  }

  /** Waits for this process's own writes before a history read (an asynchronous backend may still hold them). */
  private async settled(): Promise<void> {
    await this.backend.durable().catch(() => undefined);
  }

  /** Closes the backend (an etcd store first commits what it holds). */
  async close(): Promise<void> {
    await this.backend.close();
  }

  private record(change: StoreChange, undo: () => void): void {
    this.tx!.changes.push(change);
    this.tx!.undo.push(undo);
  }
}

function freezeOp(op: OperationRecord): OperationRecord {
  Object.freeze(op.excludedHosts);
  return Object.freeze(op);
}

export { isFinished };
