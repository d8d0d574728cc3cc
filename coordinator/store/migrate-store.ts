/**
 * `vonode-coordinator migrate-store`: copies a site's whole state (leases,
 * operations, phases, usage records, meta values) once from the SQLite
 * database of a single coordinator into an empty key prefix of an etcd
 * cluster, the step from one coordinator to several (docs/ha.md), then reads
 * it back and compares.
 *
 * - The SQLite file is never written: it is copied aside (with its WAL, if a
 *   coordinator left one) and read from the copy with SqliteBackend. A
 *   process that holds it open (a running coordinator) is refused, and so is
 *   a file that changes while it is copied.
 * - The target prefix must be empty (not even a coordinator's election/ key):
 *   the copy is written unfenced, by a StateStore on the etcd backend, so the
 *   keys (leases/ip, leases/mac, opid, ops/open, ops/done, phases) are
 *   exactly those a coordinator writes, with the same lease compares.
 */
import { copyFile, mkdtemp, readdir, readlink, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { systemClock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { connectEtcd, type EtcdConnection, type EtcdStoreConfig } from '../ha/etcd-connection.js';
import { openEtcdStore, readSnapshot } from './etcd/etcd-backend.js';
import { KEYS } from './etcd/etcd-keys.js';
import { isFinished, type NodeRecord, type OperationRecord, type PhaseRow, type UsageRecord } from './records.js';
import { SCHEMA_VERSION } from './sqlite/schema.js';
import { SqliteBackend } from './sqlite/sqlite-backend.js';
import type { StateStore } from './state-store.js';

/** Refused before writing anything (the source or the target is not fit): exit 2. */
export class Refused extends Error {}

/** What the command line asks for. */
export interface MigrateStoreArgs {
  /** Absolute path of the SQLite database. */
  from: string;
  etcd: EtcdStoreConfig;
  json: boolean;
}

/** Summary of a migration (the --json output). */
export interface MigrateStoreSummary {
  from: string;
  to: string;
  prefix: string;
  nodes: number;
  openOperations: number;
  finishedOperations: number;
  phases: number;
  usageRecords: number;
  lastSeq: number;
  seconds: number;
}

/** What the SQLite database holds. */
interface SourceState {
  nodes: NodeRecord[];
  openOperations: OperationRecord[];
  finishedOperations: OperationRecord[];
  phases: PhaseRow[];
  lastSeq: number;
  /** Every usage record, open and ended. */
  usage: UsageRecord[];
  /** Meta values (not the schema version). */
  meta: Array<[string, string]>;
}

/** Output sinks (stdout, stderr). */
export interface MigrateStoreIo {
  out(text: string): void;
  err(text: string): void;
}

/** Store transactions between two durability barriers (bounds what is queued in memory). */
const TXNS_PER_BARRIER = 32;
/** A barrier that waits longer than this means etcd stopped taking commits: give up. */
const STALL_MS = 60_000;



/** Copies and verifies; throws Refused when the source or the target is not fit (nothing written). */
export async function migrate(args: MigrateStoreArgs, io: MigrateStoreIo): Promise<MigrateStoreSummary> {
  const started = performance.now();
  const { prefix, endpoints } = args.etcd;
  const to = `etcd:${endpoints.join(',')}`;
  const source = await readSqlite(args.from, io);
  const logger = pino({ name: 'vonode-coordinator migrate-store', level: process.env['VONODE_LOG_LEVEL'] ?? 'warn' }, pino.destination(2));

  const conn = connect(args.etcd);
  try {
    await assertEmptyPrefix(conn, args.etcd);
    await copyInto(conn, args.etcd, source, logger);
  } finally {
    conn.close();
  }
  const verify = connect(args.etcd);
  try {
    await verifyCopy(verify, args.etcd, source);
  } finally {
    verify.close();
  }
  return {
    from: `sqlite:${args.from}`,
    to,
    prefix,
    nodes: source.nodes.length,
    openOperations: source.openOperations.length,
    finishedOperations: source.finishedOperations.length,
    phases: source.phases.length,
    usageRecords: source.usage.length,
    lastSeq: source.lastSeq,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
}

// ---- the source: SQLite, never written ----

/** Reads the whole state from a copy of the database (made only when no process holds it open). */
async function readSqlite(file: string, io: MigrateStoreIo): Promise<SourceState> {
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new Refused(e.code === 'ENOENT' ? `${file}: no such file (nothing was created); --from names the coordinator's stateDb` : `${file}: ${e.message}`);
  });
  if (!st.isFile()) throw new Refused(`${file} is not a file; --from names the coordinator's stateDb`);
  const holders = await processesHolding(file);
  if (holders.length) {
    throw new Refused(
      `${file} is open in process ${holders.join(', ')} (a running coordinator?): stop the coordinator (e.g. systemctl stop vonode-coordinator), then run migrate-store again; nothing was written`,
    );
  }
  const wal = `${file}-wal`;
  const walBytes = (await stat(wal).catch(() => undefined))?.size ?? 0;
  if (walBytes > 0) {
    io.err(
      `note: ${wal} holds ${walBytes} bytes not checkpointed: the coordinator did not stop cleanly (or runs where this command cannot see it, e.g. in another container; then stop it and run again); they are migrated too\n`,
    );
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-migrate-store-'));
  try {
    const copy = path.join(dir, 'state.db');
    const before = await fingerprint(file);
    await copyFile(file, copy);
    if (walBytes > 0) await copyFile(wal, `${copy}-wal`).catch(() => undefined);
    if (!isDeepStrictEqual(before, await fingerprint(file))) {
      throw new Refused(`${file} changed while it was being copied: a coordinator still writes it; stop it, then run migrate-store again; nothing was written`);
    }
    checkSchema(copy, file);
    const backend = new SqliteBackend(copy);
    try {
      const loaded = backend.load();
      return { ...loaded, finishedOperations: backend.finishedOperations(), phases: backend.allPhases(), usage: backend.allUsage(), meta: backend.allMeta() };
    } finally {
      await backend.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Size and mtime of the database and its WAL: a writer changes them. */
async function fingerprint(file: string): Promise<Array<[number, number] | undefined>> {
  const one = async (f: string): Promise<[number, number] | undefined> => {
    const s = await stat(f).catch(() => undefined);
    return s && [s.size, s.mtimeMs];
  };
  return [await one(file), await one(`${file}-wal`)];
}

/** Refuses a copy that is not a vonode coordinator state database of the schema this build reads. */
function checkSchema(copy: string, file: string): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(copy, { fileMustExist: true });
    const tables = new Set((db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>).map((r) => r.name));
    const missing = ['meta', 'nodes', 'operations', 'phases'].filter((t) => !tables.has(t));
    if (missing.length) throw new Refused(`${file} is not a vonode coordinator state database (no table ${missing.join(', ')}); --from names the coordinator's stateDb`);
    const version = (db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined)?.value;
    // An older version is read through SqliteBackend, which migrates the copy (never the file) to this one.
    if (!(Number(version) >= 1 && Number(version) <= SCHEMA_VERSION)) {
      throw new Refused(`${file} has schema version ${version ?? '(none)'}; this vonode-coordinator migrates versions 1 to ${SCHEMA_VERSION} (use the vonode release that wrote it)`);
    }
  } catch (e) {
    if (e instanceof Refused) throw e;
    throw new Refused(`${file} cannot be read as an SQLite database: ${errorMessage(e)}`);
  } finally {
    db?.close();
  }
}

/**
 * PIDs of the other processes that have the database (or its -wal, -shm)
 * open, from /proc/<pid>/fd (Linux; elsewhere, and for processes of other
 * users without the right to look, nothing is found).
 */
async function processesHolding(file: string): Promise<number[]> {
  const real = await realpath(file);
  const realDir = path.join(await realpath(path.dirname(file)), path.basename(file));
  const targets = new Set([real, realDir].flatMap((f) => [f, `${f}-wal`, `${f}-shm`]));
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  const holders: number[] = [];
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    if (links.some((l) => targets.has(l))) holders.push(Number(pid));
  }
  return holders;
}

// ---- the target: etcd ----

function connect(config: EtcdStoreConfig): EtcdConnection {
  try {
    return connectEtcd(config);
  } catch (e) {
    throw new Refused(`cannot use the etcd client TLS files: ${errorMessage(e)}`);
  }
}

/** Refuses a prefix that holds any key (a site's state, a coordinator campaigning, a failed earlier migration). */
async function assertEmptyPrefix(conn: EtcdConnection, config: EtcdStoreConfig): Promise<void> {
  const res = await conn.ns.getAll().limit(5).exec().catch((e: unknown) => {
    throw new Error(`cannot read etcd at ${config.endpoints.join(', ')}: ${errorMessage(e)}; check --to and the members (etcdctl endpoint health)`);
  });
  const count = Number(res.count);
  if (count === 0) return;
  const keys = res.kvs.map((kv) => kv.key.toString());
  const election = await conn.ns.getAll().prefix(KEYS.election).count();
  const why = election
    ? `a coordinator is running on it (${KEYS.election} has ${election} key${election === 1 ? '' : 's'}): stop the coordinators of this prefix, or choose another ?prefix=`
    : `it holds a site's state already (another site, or an earlier migration); choose another ?prefix=, or, if it is this site's failed earlier migration, delete it first: etcdctl del --prefix ${config.prefix}`;
  throw new Refused(`etcd prefix ${config.prefix} is not empty (${count} key${count === 1 ? '' : 's'}, e.g. ${keys.join(', ')}): ${why}; nothing was written`);
}

/** Writes the state through a StateStore on the etcd backend, unfenced, in transactions that fit one etcd txn. */
async function copyInto(conn: EtcdConnection, config: EtcdStoreConfig, source: SourceState, logger: Logger): Promise<void> {
  const fatal: string[] = [];
  const { store } = await openEtcdStore({ ns: conn.ns, fence: undefined, maxTxnOps: config.maxTxnOps, clock: systemClock, logger, onFatal: (r) => void fatal.push(r) });
  try {
    if (store.nodeCount > 0 || store.openOperations().next().done === false) {
      throw new Refused(`etcd prefix ${config.prefix} was written to meanwhile (another coordinator or migration?); nothing was written`);
    }
    // Every item with the number of keys it writes (the txn limit counts keys; meta/writer is one more).
    const items: Array<{ keys: number; write: () => void }> = [];
    const operations = [...source.openOperations, ...source.finishedOperations].sort((a, b) => a.seq - b.seq);
    for (const op of operations) items.push({ keys: isFinished(op.state) ? 3 : 2, write: () => store.importOperation(op) });
    for (const n of source.nodes) items.push({ keys: 3, write: () => store.insertNode(n) });
    for (const p of source.phases) items.push({ keys: 1, write: () => store.insertPhase(p) });
    // An ended record writes its usage/done key and deletes a usage/open key: 2 keys.
    for (const u of source.usage) items.push({ keys: u.status === 'running' ? 1 : 2, write: () => store.importUsage(u) });
    for (const [key, value] of source.meta) items.push({ keys: 1, write: () => store.writeMeta(key, value) });

    const limit = config.maxTxnOps - 1;
    let txns = 0;
    for (let i = 0; i < items.length; ) {
      let keys = 0;
      let end = i;
      while (end < items.length && (end === i || keys + items[end]!.keys <= limit)) keys += items[end++]!.keys;
      const group = items.slice(i, end);
      store.transaction(() => {
        for (const item of group) item.write();
      });
      i = end;
      if (++txns % TXNS_PER_BARRIER === 0) await barrier(store, config);
    }
    await barrier(store, config);
  } catch (e) {
    const reason = fatal[0] ?? errorMessage(e);
    if (e instanceof Refused) throw e;
    throw new Error(`writing to etcd failed: ${reason}; the prefix ${config.prefix} may hold a partial copy: delete it (etcdctl del --prefix ${config.prefix}) and run again`);
  } finally {
    await store.close();
  }
}

/** Waits until every write so far is committed; fails if etcd takes none for STALL_MS. */
async function barrier(store: StateStore, config: EtcdStoreConfig): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`etcd at ${config.endpoints.join(', ')} took no commit for ${STALL_MS / 1000} s`)), STALL_MS);
  });
  try {
    await Promise.race([store.durable(), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the copy back on a fresh connection and compares it with the source. Throws listing every difference. */
async function verifyCopy(conn: EtcdConnection, config: EtcdStoreConfig, source: SourceState): Promise<void> {
  const snapshot = await readSnapshot(conn.ns);
  const count = (prefix: string): Promise<number> => conn.ns.getAll().prefix(prefix).revision(snapshot.revision).count();
  const [finished, phases, ids, journals, election, doneUsage, metas] = await Promise.all([
    count(KEYS.doneOps), count(KEYS.phases), count(KEYS.opId('')), count(KEYS.journals), count(KEYS.election), count(KEYS.doneUsages), count(KEYS.metas),
  ]);
  const differences: string[] = [];
  const compare = (what: string, expected: number, actual: number): void => {
    if (expected !== actual) differences.push(`${what}: sqlite ${expected}, etcd ${actual}`);
  };
  compare('leases', source.nodes.length, snapshot.nodes.length);
  compare('open operations', source.openOperations.length, snapshot.openOperations.length);
  compare('finished operations', source.finishedOperations.length, finished);
  compare('operation ids', source.openOperations.length + source.finishedOperations.length, ids);
  compare('phases', source.phases.length, phases);
  compare('last seq', source.lastSeq, snapshot.lastSeq);
  compare('open usage records', source.usage.filter((u) => u.status === 'running').length, snapshot.openUsage.length);
  compare('ended usage records', source.usage.filter((u) => u.status !== 'running').length, doneUsage);
  compare('meta values', source.meta.length, metas);
  const triples = (nodes: readonly NodeRecord[]): string[] => nodes.map((n) => `${n.hostname} ${n.ip} ${n.mac}`).sort();
  const [want, got] = [triples(source.nodes), triples(snapshot.nodes)];
  const lost = want.filter((t) => !got.includes(t));
  const extra = got.filter((t) => !want.includes(t));
  if (lost.length || extra.length) differences.push(`leases (hostname IP MAC) differ: missing in etcd [${lost.join('; ')}], only in etcd [${extra.join('; ')}]`);
  const byHost = (nodes: readonly NodeRecord[]): NodeRecord[] => [...nodes].sort((a, b) => (a.hostname < b.hostname ? -1 : 1));
  if (!lost.length && !extra.length && !isDeepStrictEqual(byHost(source.nodes).map((n) => ({ ...n })), byHost(snapshot.nodes))) differences.push('lease records differ');
  if (!isDeepStrictEqual(source.openOperations.map((o) => ({ ...o })), snapshot.openOperations)) differences.push('open operation records differ');
  if (journals) differences.push(`${journals} unfinished journal key(s) under ${KEYS.journals}`);
  if (election) differences.push(`a coordinator started on the prefix during the migration (${KEYS.election} has ${election} key(s))`);
  if (differences.length) {
    throw new Error(
      `verification failed, etcd prefix ${config.prefix} does not hold what was copied: ${differences.join('; ')}; delete it (etcdctl del --prefix ${config.prefix}) and run again with the coordinators stopped`,
    );
  }
}
