import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';
import type { NodeRecord, NodeState, OperationRecord, OperationState, PhaseRow } from './records.js';

interface NodeRow {
  hostname: string; ip: string; mac: string; vo: string; host: string; state: string; operation_id: string; since_ms: number; error: string;
}
interface OperationRow {
  id: string; seq: number; kind: string; state: string; vo: string; node: string; host: string; pinned_host: string;
  attempt: number; excluded_hosts: string; error: string; trigger: string; created_ms: number; finished_ms: number;
}
interface PhaseDbRow {
  operation_id: string; attempt: number; host: string; phase: string; edge: string; monotonic_ms: number; unix_ms: number; duration_ms: number; details: string;
}

const toNode = (r: NodeRow): NodeRecord => ({
  hostname: r.hostname, ip: r.ip, mac: r.mac, vo: r.vo, host: r.host, state: r.state as NodeState,
  operationId: r.operation_id, sinceMs: r.since_ms, error: r.error,
});
const toOperation = (r: OperationRow): OperationRecord => ({
  id: r.id, seq: r.seq, kind: r.kind as OperationRecord['kind'], state: r.state as OperationState, vo: r.vo, node: r.node,
  host: r.host, pinnedHost: r.pinned_host, attempt: r.attempt, excludedHosts: JSON.parse(r.excluded_hosts) as string[],
  error: r.error, trigger: r.trigger as OperationRecord['trigger'], createdMs: r.created_ms, finishedMs: r.finished_ms,
});
const toPhase = (r: PhaseDbRow): PhaseRow => ({
  operationId: r.operation_id, attempt: r.attempt, host: r.host, phase: r.phase as PhaseRow['phase'], edge: r.edge as PhaseRow['edge'],
  monotonicMs: r.monotonic_ms, unixMs: r.unix_ms, durationMs: r.duration_ms, details: JSON.parse(r.details) as Record<string, string>,
});

/** Operation states that are not final: their records are kept in memory too. */
const OPEN_STATES: ReadonlySet<OperationState> = new Set<OperationState>(['queued', 'running', 'retrying']);

/**
 * The coordinator's durable state in embedded SQLite (better-sqlite3: a
 * synchronous API suits a single-writer daemon and keeps every write a plain
 * call). WAL journal: a crash (even SIGKILL) loses no committed write, and
 * readers never block the writer. All multi-row changes go through
 * `transaction` so a lease and its operation appear or vanish together.
 *
 * Every write goes to SQLite first; the leased nodes and the operations not
 * yet finished are also held in memory (write-through, loaded at open), so
 * the hot paths (every dispatch pass, status, metrics) never scan a table: a
 * site with thousands of queued deployments reads them from a Map. Records
 * handed out are frozen: a change goes through the store or nowhere. A
 * transaction that throws undoes its in-memory changes with its SQL ones.
 */
export class StateStore {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly nodeCache = new Map<string, NodeRecord>();
  private sortedNodes: NodeRecord[] | undefined;
  /** Open operations in arrival order (a Map keeps insertion order; seq only grows). */
  private readonly openOps = new Map<string, OperationRecord>();
  private lastSeq = 0;
  /** Undo steps of the in-memory changes made inside the running transaction. */
  private undo: Array<() => void> | undefined;

  /** Opens (creating if needed) the database file; ':memory:' for tests. Throws if the file is unusable. */
  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA_SQL);
    this.sql(`INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
    for (const row of this.sql('SELECT * FROM nodes').all() as NodeRow[]) this.nodeCache.set(row.hostname, Object.freeze(toNode(row)));
    const open = [...OPEN_STATES];
    const rows = this.sql(`SELECT * FROM operations WHERE state IN (${open.map(() => '?').join(', ')}) ORDER BY seq`).all(...open) as OperationRow[];
    for (const row of rows) this.openOps.set(row.id, freezeOp(toOperation(row)));
    this.lastSeq = (this.sql('SELECT COALESCE(MAX(seq), 0) AS s FROM operations').get() as { s: number }).s;
  }

  /** A prepared statement, prepared once per SQL text (preparing is a measurable cost on hot paths). */
  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  /** Runs `fn` atomically; a throw rolls everything back, in SQLite and in memory. */
  transaction<T>(fn: () => T): T {
    if (this.undo) return fn(); // nested: part of the outer transaction
    const undo: Array<() => void> = [];
    this.undo = undo;
    try {
      return this.db.transaction(fn)();
    } catch (e) {
      for (const step of undo.reverse()) step();
      throw e;
    } finally {
      this.undo = undefined;
    }
  }

  /** Records how to take back an in-memory change if the surrounding transaction fails. */
  private remember(step: () => void): void {
    this.undo?.push(step);
  }

  private cacheNode(hostname: string, next: NodeRecord | undefined): void {
    const prev = this.nodeCache.get(hostname);
    if (next) this.nodeCache.set(hostname, next);
    else this.nodeCache.delete(hostname);
    this.sortedNodes = undefined;
    this.remember(() => {
      if (prev) this.nodeCache.set(hostname, prev);
      else this.nodeCache.delete(hostname);
      this.sortedNodes = undefined;
    });
  }

  private cacheOperation(op: OperationRecord, inserted: boolean): void {
    const prev = this.openOps.get(op.id);
    if (OPEN_STATES.has(op.state)) this.openOps.set(op.id, op);
    else this.openOps.delete(op.id);
    this.remember(() => {
      if (prev) this.openOps.set(op.id, prev);
      else this.openOps.delete(op.id);
      if (inserted) this.lastSeq--;
    });
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

  /** Inserts a lease; throws (UNIQUE) if the hostname, IP or MAC is already leased. */
  insertNode(n: NodeRecord): void {
    this.sql('INSERT INTO nodes(hostname, ip, mac, vo, host, state, operation_id, since_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(n.hostname, n.ip, n.mac, n.vo, n.host, n.state, n.operationId, n.sinceMs, n.error);
    this.cacheNode(n.hostname, Object.freeze({ ...n }));
  }

  /** Updates the mutable fields of a node. */
  updateNode(hostname: string, patch: Partial<Pick<NodeRecord, 'host' | 'state' | 'operationId' | 'sinceMs' | 'error'>>): void {
    const cur = this.node(hostname);
    if (!cur) return;
    const n = Object.freeze({ ...cur, ...patch });
    this.sql('UPDATE nodes SET host = ?, state = ?, operation_id = ?, since_ms = ?, error = ? WHERE hostname = ?')
      .run(n.host, n.state, n.operationId, n.sinceMs, n.error, hostname);
    this.cacheNode(hostname, n);
  }

  /** Frees the triple. */
  deleteNode(hostname: string): void {
    this.sql('DELETE FROM nodes WHERE hostname = ?').run(hostname);
    this.cacheNode(hostname, undefined);
  }

  // ---- operations ----

  /** Inserts an operation; `seq` is assigned here (arrival order). */
  insertOperation(op: Omit<OperationRecord, 'seq'>): OperationRecord {
    const seq = ++this.lastSeq;
    try {
      this.sql(
        `INSERT INTO operations(id, seq, kind, state, vo, node, host, pinned_host, attempt, excluded_hosts, error, trigger, created_ms, finished_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(op.id, seq, op.kind, op.state, op.vo, op.node, op.host, op.pinnedHost, op.attempt, JSON.stringify(op.excludedHosts), op.error, op.trigger, op.createdMs, op.finishedMs);
    } catch (e) {
      this.lastSeq--;
      throw e;
    }
    const rec = freezeOp({ ...op, seq });
    this.cacheOperation(rec, true);
    return rec;
  }

  /** Updates an operation's mutable fields; returns the new record. */
  updateOperation(id: string, patch: Partial<Omit<OperationRecord, 'id' | 'seq' | 'kind' | 'createdMs'>>): OperationRecord | undefined {
    const cur = this.operation(id);
    if (!cur) return undefined;
    const o = freezeOp({ ...cur, ...patch });
    this.sql(
      `UPDATE operations SET state = ?, vo = ?, node = ?, host = ?, pinned_host = ?, attempt = ?, excluded_hosts = ?, error = ?,
       trigger = ?, finished_ms = ? WHERE id = ?`,
    ).run(o.state, o.vo, o.node, o.host, o.pinnedHost, o.attempt, JSON.stringify(o.excludedHosts), o.error, o.trigger, o.finishedMs, id);
    this.cacheOperation(o, false);
    return o;
  }

  /** One operation, or undefined. */
  operation(id: string): OperationRecord | undefined {
    const open = this.openOps.get(id);
    if (open) return open;
    const row = this.sql('SELECT * FROM operations WHERE id = ?').get(id) as OperationRow | undefined;
    return row && freezeOp(toOperation(row));
  }

  /** Operations in any of `states`, oldest first (open states come from memory). */
  operationsIn(states: readonly OperationState[]): OperationRecord[] {
    if (states.every((s) => OPEN_STATES.has(s))) {
      const wanted = new Set(states);
      const out: OperationRecord[] = [];
      for (const op of this.openOps.values()) if (wanted.has(op.state)) out.push(op);
      return out;
    }
    const marks = states.map(() => '?').join(', ');
    return (this.sql(`SELECT * FROM operations WHERE state IN (${marks}) ORDER BY seq`).all(...states) as OperationRow[]).map((r) => freezeOp(toOperation(r)));
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
  recentOperations(limit: number): OperationRecord[] {
    const rows = (limit > 0
      ? this.sql('SELECT * FROM (SELECT * FROM operations ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(limit)
      : this.sql('SELECT * FROM operations ORDER BY seq').all()) as OperationRow[];
    return rows.map((r) => freezeOp(toOperation(r)));
  }

  // ---- phases ----

  /** Appends one phase boundary. */
  insertPhase(p: PhaseRow): void {
    this.sql('INSERT INTO phases(operation_id, attempt, host, phase, edge, monotonic_ms, unix_ms, duration_ms, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(p.operationId, p.attempt, p.host, p.phase, p.edge, p.monotonicMs, p.unixMs, p.durationMs, JSON.stringify(p.details));
  }

  /** Phase boundaries of one operation, in arrival order. */
  phases(operationId: string): PhaseRow[] {
    return (this.sql('SELECT * FROM phases WHERE operation_id = ? ORDER BY rowid').all(operationId) as PhaseDbRow[]).map(toPhase);
  }

  /** Closes the database (checkpointing the WAL). */
  close(): void {
    this.db.close();
  }
}

function freezeOp(op: OperationRecord): OperationRecord {
  Object.freeze(op.excludedHosts);
  return Object.freeze(op);
}
