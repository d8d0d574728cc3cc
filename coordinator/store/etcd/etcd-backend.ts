import type { Namespace } from 'etcd3';
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';
import type { NodeRecord, OperationRecord, PhaseRow, UsageRecord } from '../records.js';
import { StateStore, type WriteGuard } from '../state-store.js';
import type { LoadedState, StoreBackend, StoreChange } from '../store-backend.js';
import { EtcdCommits, replayJournals } from './etcd-commits.js';
import type { EtcdFence } from './etcd-fence.js';
import { KEYS, seqOfKey } from './etcd-keys.js';

/** Default of etcd's --max-txn-ops: a txn may carry at most this many operations. */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;

/** A consistent read of what a StateStore keeps in memory, and the etcd revision it was read at. */
export interface EtcdSnapshot extends LoadedState {
  revision: number;
}

/** Reads leases, open operations and the last seq at one revision. */
export async function readSnapshot(ns: Namespace): Promise<EtcdSnapshot> {
  const first = await ns.getAll().prefix(KEYS.nodes).exec();
  const revision = Number(first.header.revision);
  const nodes = first.kvs.map((kv) => JSON.parse(kv.value.toString()) as NodeRecord);
  const open = await ns.getAll().prefix(KEYS.openOps).revision(revision).exec();
  const openOperations = open.kvs.map((kv) => JSON.parse(kv.value.toString()) as OperationRecord).sort((a, b) => a.seq - b.seq);
  const lastOf = async (prefix: string): Promise<number> => {
    const keys = await ns.getAll().prefix(prefix).revision(revision).sort('Key', 'Descend').limit(1).keys();
    return keys[0] ? seqOfKey(keys[0]) : 0;
  };
  const lastSeq = Math.max(await lastOf(KEYS.openOps), await lastOf(KEYS.doneOps));
  const usage = await ns.getAll().prefix(KEYS.openUsages).revision(revision).strings();
  const openUsage = Object.values(usage).map((t) => JSON.parse(t) as UsageRecord).sort((a, b) => a.startMs - b.startMs);
  return { nodes, openOperations, lastSeq, openUsage, revision };
}

/** History reads, the same for the leader's backend and a standby's view. */
export class EtcdHistory {
  constructor(protected readonly ns: Namespace) {}

  async findOperation(id: string): Promise<OperationRecord | undefined> {
    const seq = await this.ns.get(KEYS.opId(id)).string();
    if (!seq) return undefined;
    const text = (await this.ns.get(KEYS.doneOp(Number(seq))).string()) ?? (await this.ns.get(KEYS.openOp(Number(seq))).string());
    return text ? (JSON.parse(text) as OperationRecord) : undefined;
  }

  async recentOperations(limit: number): Promise<OperationRecord[]> {
    const read = (prefix: string): Promise<Record<string, string>> => {
      const q = this.ns.getAll().prefix(prefix).sort('Key', 'Descend');
      return (limit > 0 ? q.limit(limit) : q).strings();
    };
    const [done, open] = await Promise.all([read(KEYS.doneOps), read(KEYS.openOps)]);
    const all = [...Object.values(done), ...Object.values(open)].map((t) => JSON.parse(t) as OperationRecord).sort((a, b) => a.seq - b.seq);
    return limit > 0 ? all.slice(-limit) : all;
  }

  async phases(operationId: string): Promise<PhaseRow[]> {
    const rows = await this.ns.getAll().prefix(KEYS.phasesOf(operationId)).sort('Key', 'Ascend').strings();
    return Object.entries(rows).sort(([a], [b]) => (a < b ? -1 : 1)).map(([, t]) => JSON.parse(t) as PhaseRow);
  }

  /** Running records and those ended after sinceMs (one range read from sinceMs), at one revision. */
  async usageRecords(sinceMs: number, untilMs: number): Promise<UsageRecord[]> {
    const open = await this.ns.getAll().prefix(KEYS.openUsages).exec();
    const revision = open.header.revision;
    const done = await this.ns.getAll().inRange({ start: KEYS.doneUsageFrom(sinceMs), end: KEYS.doneUsageEnd }).revision(revision).strings();
    const records = [...open.kvs.map((kv) => kv.value.toString()), ...Object.values(done)].map((t) => JSON.parse(t) as UsageRecord);
    return records
      .filter((u) => u.startMs < untilMs && (u.endMs === 0 || u.endMs > sinceMs))
      .sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : 1));
  }

  async readMeta(key: string): Promise<string | undefined> {
    return (await this.ns.get(KEYS.meta(key)).string()) ?? undefined;
  }
}

/** What an etcd-backed store needs. */
export interface EtcdStoreOptions {
  /** The client namespaced to the store's prefix. */
  ns: Namespace;
  /** The leader's fence; undefined only for migrate-store writing into an empty prefix. */
  fence: EtcdFence | undefined;
  maxTxnOps?: number;
  clock: Clock;
  logger: Logger;
  /** The store can never write again (deposed, or etcd's state diverged): stop acting. */
  onFatal(reason: string): void;
}

/**
 * The etcd backend of the leader's StateStore: transactions are committed
 * in order by EtcdCommits (fenced by the leader's term), history is read
 * from etcd.
 */
export class EtcdBackend extends EtcdHistory implements StoreBackend {
  readonly kind = 'etcd';

  constructor(
    private readonly commits: EtcdCommits,
    ns: Namespace,
  ) {
    super(ns);
  }

  write(changes: readonly StoreChange[]): void {
    this.commits.write(changes);
  }

  durable(): Promise<void> {
    return this.commits.durable();
  }

  async close(): Promise<void> {
    await this.commits.flush(5000);
  }
}

/**
 * Opens the leader's store on etcd: replays a journal the previous leader
 * left half applied, reads the state at one revision, and writes fenced by
 * `fence` from then on.
 */
export async function openEtcdStore(o: EtcdStoreOptions, guard?: WriteGuard): Promise<{ store: StateStore; revision: number }> {
  const maxTxnOps = o.maxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS;
  await replayJournals(o.ns, o.fence, o.logger, maxTxnOps);
  const snapshot = await readSnapshot(o.ns);
  const existingLeaseKeys = snapshot.nodes.flatMap((n) => [KEYS.node(n.hostname), KEYS.ipLease(n.ip), KEYS.macLease(n.mac)]);
  const commits = new EtcdCommits({ ns: o.ns, fence: o.fence, existingLeaseKeys, maxTxnOps, clock: o.clock, logger: o.logger, onFatal: o.onFatal });
  return { store: new StateStore(new EtcdBackend(commits, o.ns), snapshot, guard), revision: snapshot.revision };
}
