import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { NodeRecord, NodeState, OperationRecord, OperationState, PhaseRow, UsageRecord } from '../records.js';
import { StateStore } from '../state-store.js';
import type { LoadedState, StoreBackend, StoreChange } from '../store-backend.js';
import { MIGRATIONS, SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';

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

interface UsageRow {
  id: string; vo: string; node: string; host: string; image_url: string; image_sha256: string; appliance_id: string; vcpus: number; memory_mb: number;
  start_ms: number; end_ms: number; status: string; start_operation_id: string; end_operation_id: string;
}

const toUsage = (r: UsageRow): UsageRecord => ({
  id: r.id, vo: r.vo, node: r.node, host: r.host, imageUrl: r.image_url, imageSha256: r.image_sha256, applianceId: r.appliance_id,
  vcpus: r.vcpus, memoryMb: r.memory_mb, startMs: r.start_ms, endMs: r.end_ms, status: r.status as UsageRecord['status'],
  startOperationId: r.start_operation_id, endOperationId: r.end_operation_id,
});

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

const OPEN: readonly OperationState[] = ['queued', 'running', 'retrying'];

/**
 * The embedded default backend: one SQLite file (better-sqlite3: a
 * synchronous API suits a single-writer daemon and keeps every write a plain
 * call). WAL journal: a crash (even SIGKILL) loses no committed write, and
 * readers never block the writer. Each store transaction is one SQLite
 * transaction, committed before `write` returns; the UNIQUE constraints
 * repeat the store's own lease checks.
 */
export class SqliteBackend implements StoreBackend {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly writeAll: (changes: readonly StoreChange[]) => void;

  /** Opens (creating if needed) the database file; ':memory:' for tests. Throws if the file is unusable. */
  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA_SQL);
    this.sql(`INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1')`).run();
    try {
      this.migrate(file);
    } catch (e) {
      this.db.close();
      throw e;
    }
    this.writeAll = this.db.transaction((changes: readonly StoreChange[]) => {
      for (const c of changes) this.apply(c);
    });
  }

  /** Takes the schema from its recorded version to SCHEMA_VERSION, one transaction per step. Throws for a newer database. */
  private migrate(file: string): void {
    const version = Number((this.sql(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }).value);
    if (!(version <= SCHEMA_VERSION)) {
      throw new Error(`${file} has schema version ${version}; this vonode-coordinator reads up to ${SCHEMA_VERSION} (a newer release wrote it: use that release)`);
    }
    for (let v = version + 1; v <= SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] ?? '');
        this.sql(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(v));
      })();
    }
  }

  /** What the store keeps in memory: every lease, the open operations, the last seq. */
  load(): LoadedState {
    const nodes = (this.sql('SELECT * FROM nodes').all() as NodeRow[]).map(toNode);
    const marks = OPEN.map(() => '?').join(', ');
    const open = (this.sql(`SELECT * FROM operations WHERE state IN (${marks}) ORDER BY seq`).all(...OPEN) as OperationRow[]).map(toOperation);
    const lastSeq = (this.sql('SELECT COALESCE(MAX(seq), 0) AS s FROM operations').get() as { s: number }).s;
    const openUsage = (this.sql('SELECT * FROM usage WHERE end_ms = 0 ORDER BY start_ms, id').all() as UsageRow[]).map(toUsage);
    return { nodes, openOperations: open, lastSeq, openUsage };
  }

  /** Every usage record, by start (migration). */
  allUsage(): UsageRecord[] {
    return (this.sql('SELECT * FROM usage ORDER BY start_ms, id').all() as UsageRow[]).map(toUsage);
  }

  /** Every meta value but the schema version (migration). */
  allMeta(): Array<[string, string]> {
    return (this.sql(`SELECT key, value FROM meta WHERE key <> 'schema_version' ORDER BY key`).all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]);
  }

  /** Every phase row in insertion order (migration). */
  allPhases(): PhaseRow[] {
    return (this.sql('SELECT * FROM phases ORDER BY rowid').all() as PhaseDbRow[]).map(toPhase);
  }

  /** Finished operations in seq order (migration). */
  finishedOperations(): OperationRecord[] {
    return (this.sql(`SELECT * FROM operations WHERE state NOT IN (${OPEN.map(() => '?').join(', ')}) ORDER BY seq`).all(...OPEN) as OperationRow[]).map(toOperation);
  }

  write(changes: readonly StoreChange[]): void {
    this.writeAll(changes);
  }

  durable(): Promise<void> {
    return Promise.resolve();
  }

  private apply(c: StoreChange): void {
    if (c.kind === 'usage') {
      const u = c.record;
      this.sql(
        `INSERT INTO usage(id, vo, node, host, image_url, image_sha256, appliance_id, vcpus, memory_mb, start_ms, end_ms, status, start_operation_id, end_operation_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET end_ms = excluded.end_ms, status = excluded.status, end_operation_id = excluded.end_operation_id`,
      ).run(u.id, u.vo, u.node, u.host, u.imageUrl, u.imageSha256, u.applianceId, u.vcpus, u.memoryMb, u.startMs, u.endMs, u.status, u.startOperationId, u.endOperationId);
      return;
    }
    if (c.kind === 'meta') {
      if (c.key === 'schema_version') throw new RangeError('meta key schema_version is the schema\'s own');
      this.sql('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(c.key, c.value);
      return;
    }
    if (c.kind === 'phase') {
      const p = c.row;
      this.sql('INSERT INTO phases(operation_id, attempt, host, phase, edge, monotonic_ms, unix_ms, duration_ms, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(p.operationId, p.attempt, p.host, p.phase, p.edge, p.monotonicMs, p.unixMs, p.durationMs, JSON.stringify(p.details));
      return;
    }
    if (c.kind === 'node') {
      const n = c.record;
      if (!n) this.sql('DELETE FROM nodes WHERE hostname = ?').run(c.hostname);
      else if (!c.previous) {
        this.sql('INSERT INTO nodes(hostname, ip, mac, vo, host, state, operation_id, since_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(n.hostname, n.ip, n.mac, n.vo, n.host, n.state, n.operationId, n.sinceMs, n.error);
      } else {
        this.sql('UPDATE nodes SET host = ?, state = ?, operation_id = ?, since_ms = ?, error = ? WHERE hostname = ?')
          .run(n.host, n.state, n.operationId, n.sinceMs, n.error, n.hostname);
      }
      return;
    }
    const o = c.record;
    if (!c.previous) {
      this.sql(
        `INSERT INTO operations(id, seq, kind, state, vo, node, host, pinned_host, attempt, excluded_hosts, error, trigger, created_ms, finished_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(o.id, o.seq, o.kind, o.state, o.vo, o.node, o.host, o.pinnedHost, o.attempt, JSON.stringify(o.excludedHosts), o.error, o.trigger, o.createdMs, o.finishedMs);
      return;
    }
    this.sql(
      `UPDATE operations SET state = ?, vo = ?, node = ?, host = ?, pinned_host = ?, attempt = ?, excluded_hosts = ?, error = ?,
       trigger = ?, finished_ms = ? WHERE id = ?`,
    ).run(o.state, o.vo, o.node, o.host, o.pinnedHost, o.attempt, JSON.stringify(o.excludedHosts), o.error, o.trigger, o.finishedMs, o.id);
  }

  findOperation(id: string): Promise<OperationRecord | undefined> {
    const row = this.sql('SELECT * FROM operations WHERE id = ?').get(id) as OperationRow | undefined;
    return Promise.resolve(row && toOperation(row));
  }

  recentOperations(limit: number): Promise<OperationRecord[]> {
    const rows = (limit > 0
      ? this.sql('SELECT * FROM (SELECT * FROM operations ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(limit)
      : this.sql('SELECT * FROM operations ORDER BY seq').all()) as OperationRow[];
    return Promise.resolve(rows.map(toOperation));
  }

  phases(operationId: string): Promise<PhaseRow[]> {
    return Promise.resolve((this.sql('SELECT * FROM phases WHERE operation_id = ? ORDER BY rowid').all(operationId) as PhaseDbRow[]).map(toPhase));
  }

  usageRecords(sinceMs: number, untilMs: number): Promise<UsageRecord[]> {
    const rows = this.sql('SELECT * FROM usage WHERE start_ms < ? AND (end_ms = 0 OR end_ms > ?) ORDER BY start_ms, id').all(untilMs, sinceMs) as UsageRow[];
    return Promise.resolve(rows.map(toUsage));
  }

  readMeta(key: string): Promise<string | undefined> {
    return Promise.resolve((this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value);
  }

  /** Closes the database (checkpointing the WAL). */
  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
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
}

/** A store on an SQLite file (':memory:' for tests): the embedded default. */
export function openSqliteStore(file: string): StateStore {
  const backend = new SqliteBackend(file);
  return new StateStore(backend, backend.load());
}
