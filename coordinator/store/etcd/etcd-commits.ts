import { randomUUID } from 'node:crypto';
import type { Namespace } from 'etcd3';
import type { Clock } from '../../../shared/clock.js';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { StoreChange } from '../store-backend.js';
import type { EtcdFence } from './etcd-fence.js';
import { addChanges, KEYS, pad, type KeyWrites } from './etcd-keys.js';

/** What the pipeline needs. */
export interface EtcdCommitsOptions {
  ns: Namespace;
  /** Absent only for a one-off writer that owns the whole prefix (migrate-store into an empty prefix). */
  fence: EtcdFence | undefined;
  /** Lease-related keys (nodes/, leases/) that exist in etcd when the pipeline starts. */
  existingLeaseKeys: Iterable<string>;
  /** etcd's --max-txn-ops (default 128): most puts/deletes, and most compares, in one txn. */
  maxTxnOps: number;
  clock: Clock;
  logger: Logger;
  /** This process may never write again (fenced, or etcd refused a lease compare): the caller must stop acting. */
  onFatal(reason: string): void;
}

interface Batch {
  changes: readonly StoreChange[];
  /** Value of `written` once this batch is in. */
  mark: number;
}

/** An etcd error worth retrying (the cluster or a member is unreachable, lost quorum, or timed out). */
class CommitRefused extends Error {}

const RETRY_INITIAL_MS = 100;
/** How often held-back commits look whether the lease is confirmed again. */
const UNCONFIRMED_POLL_MS = 50;
const RETRY_MAX_MS = 2000;

/**
 * Commits a StateStore's transactions to etcd, in order, one etcd txn at a
 * time, each conditional on the writer's fence (its election key's create
 * revision) and on the lease keys it creates not existing yet (and those it
 * changes or frees existing): the compare-and-swap that keeps a triple whole
 * and with one holder even if two processes believed they led.
 *
 * Consecutive transactions are merged into one txn while they fit (later
 * writes of a key win; a txn is applied atomically, so the merge is exact).
 * A single transaction bigger than etcd's txn limit (a 1,000-node deploy
 * request) goes through a journal: its whole write set is put under
 * journal/ in one fenced txn, then applied in chunks, the last one deleting
 * the journal; the next leader replays a journal left behind
 * (`replayJournals`), so the transaction is all or nothing across crashes.
 *
 * A commit that fails on the wire is retried with backoff while the fence
 * holds; one that may have been applied (a timeout) is checked against
 * meta/writer's batch id before retrying. A commit refused by a compare is
 * fatal: the caller stops acting and leaves leadership.
 */
export class EtcdCommits {
  private readonly queue: Batch[] = [];
  private readonly existing: Set<string>;
  private readonly waiters: Array<{ mark: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private written = 0;
  private committed = 0;
  private running: Promise<void> | undefined;
  private fatal: Error | undefined;
  private phaseCounter = 0;
  private batchCounter = 0;
  private readonly writerId = randomUUID();

  constructor(private readonly o: EtcdCommitsOptions) {
    this.existing = new Set(o.existingLeaseKeys);
  }

  /** Queues one transaction. Throws if the pipeline is fenced. */
  write(changes: readonly StoreChange[]): void {
    if (this.fatal) throw this.fatal;
    this.queue.push({ changes, mark: ++this.written });
    this.schedule();
  }

  /** Runs one drain at a time; one that ends with work queued meanwhile starts the next (with this same cleanup). */
  private schedule(): void {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length && !this.fatal) this.schedule();
    });
  }

  /** Resolves once everything queued so far is committed. */
  durable(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.committed >= this.written) return Promise.resolve();
    const mark = this.written;
    return new Promise((resolve, reject) => this.waiters.push({ mark, resolve, reject }));
  }

  /** Why the pipeline stopped for good, if it did. */
  get failure(): Error | undefined {
    return this.fatal;
  }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.fatal) {
      const { writes, last } = this.nextWrites();
      try {
        await this.commit(writes);
        this.committed = last;
        this.wake();
      } catch (e) {
        this.stop(errorMessage(e));
      }
    }
  }

  /** Takes the queued batches that fit in one txn (at least one) and merges their writes. */
  private nextWrites(): { writes: KeyWrites; last: number } {
    const writes: KeyWrites = new Map();
    let last = this.committed;
    const limit = this.o.maxTxnOps - 1; // meta/writer is in every txn
    while (this.queue.length) {
      const trial: KeyWrites = new Map(writes);
      const next = this.queue[0]!;
      addChanges(trial, next.changes, () => this.nextPhaseKey());
      if (writes.size > 0 && (trial.size > limit || this.leaseCompares(trial) > limit)) break;
      for (const [k, v] of trial) writes.set(k, v);
      last = next.mark;
      this.queue.shift();
    }
    return { writes, last };
  }

  private nextPhaseKey(): string {
    return `${pad(this.o.fence?.term ?? 0, 16)}-${pad(++this.phaseCounter, 10)}`;
  }

  private leaseCompares(writes: KeyWrites): number {
    let n = 0;
    for (const k of writes.keys()) if (isLeaseKey(k)) n++;
    return n;
  }

  private async commit(writes: KeyWrites): Promise<void> {
    const limit = this.o.maxTxnOps - 1;
    if (writes.size <= limit && this.leaseCompares(writes) <= limit) return this.commitTxn(writes, true);
    // Too big for one txn: journal first (one key, atomic), then the chunks, the journal deleted by the last.
    await this.checkLeaseKeys(writes);
    const journalKey = KEYS.journal(this.o.fence?.term ?? 0, ++this.batchCounter);
    const record: Record<string, string | null> = Object.fromEntries(writes);
    await this.commitTxn(new Map([[journalKey, JSON.stringify(record)]]), false);
    const entries = [...writes];
    for (let i = 0; i < entries.length; i += limit - 1) {
      const chunk: KeyWrites = new Map(entries.slice(i, i + limit - 1));
      if (i + limit - 1 >= entries.length) chunk.set(journalKey, null);
      await this.commitTxn(chunk, false);
    }
    this.track(writes);
  }

  /** One fenced txn, retried while etcd is unreachable; `compareLeases` adds the per-key CAS. */
  private async commitTxn(writes: KeyWrites, compareLeases: boolean): Promise<void> {
    const batch = `${this.writerId}:${++this.batchCounter}`;
    let delay = RETRY_INITIAL_MS;
    let ambiguous = false;
    for (let attempt = 1; ; attempt++) {
      // An unconfirmed lease holds commits back (they go once etcd confirms it); a lost one ends the pipeline.
      while (this.o.fence?.standing?.() === 'unconfirmed') await this.o.clock.sleep(UNCONFIRMED_POLL_MS);
      if (this.o.fence && (this.o.fence.standing?.() ?? 'lost') === 'lost') this.o.fence.assertWritable();
      if (ambiguous && (await this.alreadyApplied(batch))) break;
      try {
        const succeeded = await this.txn(writes, compareLeases, batch);
        if (!succeeded) throw new CommitRefused(await this.refusal(writes));
        break;
      } catch (e) {
        if (e instanceof CommitRefused) throw e;
        // The txn may have been applied even though the answer was lost: check before writing it again.
        ambiguous = true;
        if (attempt === 1) this.o.logger.warn({ err: errorMessage(e) }, 'etcd did not take a commit; retrying while this coordinator still leads (check the etcd members: vonode status)');
        await this.o.clock.sleep(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
    if (compareLeases) this.track(writes);
  }

  private async txn(writes: KeyWrites, compareLeases: boolean, batch: string): Promise<boolean> {
    const { ns, fence } = this.o;
    const compares: Array<[string, 'Create' | 'Version', '==' | '>', string | number]> = [];
    if (fence) compares.push([fence.key, 'Create', '==', fence.term]);
    if (compareLeases) {
      for (const [k, v] of writes) {
        if (!isLeaseKey(k)) continue;
        if (this.existing.has(k)) compares.push([k, 'Version', '>', 0]);
        else if (v !== null) compares.push([k, 'Version', '==', 0]);
      }
    }
    const ops = [...writes].map(([k, v]) => (v === null ? ns.delete().key(k) : ns.put(k).value(v)));
    const writer = JSON.stringify({ term: fence?.term ?? 0, address: fence?.address ?? '', batch, atUnixMs: this.o.clock.nowMs() });
    ops.push(ns.put(KEYS.writer).value(writer));
    if (compares.length === 0) {
      await ns.if(KEYS.writer, 'Version', '>', -1).then(...ops).commit();
      return true;
    }
    const [first, ...rest] = compares;
    let builder = ns.if(...first!);
    for (const c of rest) builder = builder.and(...c);
    const res = await builder.then(...ops).commit();
    return res.succeeded;
  }

  private async alreadyApplied(batch: string): Promise<boolean> {
    const writer = (await this.o.ns.get(KEYS.writer).json()) as { batch?: string } | null;
    return writer?.batch === batch;
  }

  /** Before a journal: the lease keys it creates must not exist (the same CAS, read first, under the fence): one read of each lease prefix. */
  private async checkLeaseKeys(writes: KeyWrites): Promise<void> {
    const created = [...writes].filter(([k, v]) => isLeaseKey(k) && v !== null && !this.existing.has(k)).map(([k]) => k);
    if (created.length === 0) return;
    const [nodes, leases] = await Promise.all([this.o.ns.getAll().prefix('nodes/').keys(), this.o.ns.getAll().prefix('leases/').keys()]);
    const present = new Set([...nodes, ...leases]);
    const taken = created.find((k) => present.has(k));
    if (taken) throw new CommitRefused(`lease key ${taken} already exists in etcd: another writer leased it`);
  }

  /** Why etcd refused a txn: the fence (deposed) or a lease compare (state diverged). */
  private async refusal(writes: KeyWrites): Promise<string> {
    const fence = this.o.fence;
    if (fence) {
      const own = await this.o.ns.get(fence.key).exec().catch(() => undefined);
      const rev = own?.kvs[0]?.create_revision;
      if (rev === undefined || Number(rev) !== fence.term) return `etcd refused a commit: this coordinator's election key (term ${fence.term}) is gone; it is no longer the leader`;
    }
    return `etcd refused a commit: a lease key did not match (${[...writes.keys()].filter(isLeaseKey).slice(0, 3).join(', ')}...); etcd's state differs from this coordinator's`;
  }

  private track(writes: KeyWrites): void {
    for (const [k, v] of writes) {
      if (!isLeaseKey(k)) continue;
      if (v === null) this.existing.delete(k);
      else this.existing.add(k);
    }
  }

  private wake(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.mark <= this.committed) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private stop(reason: string): void {
    if (this.fatal) return;
    this.fatal = new Error(reason);
    for (const w of this.waiters.splice(0)) w.reject(this.fatal);
    this.queue.length = 0;
    this.o.onFatal(reason);
  }

  /** Waits (bounded) for the queued commits, for a clean shutdown. */
  async flush(timeoutMs: number): Promise<void> {
    await Promise.race([this.durable().catch(() => undefined), this.o.clock.sleep(timeoutMs)]);
  }
}

function isLeaseKey(key: string): boolean {
  return key.startsWith('nodes/') || key.startsWith('leases/');
}

/** Applies journals a previous leader left half applied (its whole write set is in the journal). Call before loading. */
export async function replayJournals(ns: Namespace, fence: EtcdFence | undefined, logger: Logger, maxTxnOps: number): Promise<number> {
  const journals = (await ns.getAll().prefix(KEYS.journals).strings()) as Record<string, string>;
  for (const [key, text] of Object.entries(journals)) {
    const entries = Object.entries(JSON.parse(text) as Record<string, string | null>);
    const limit = maxTxnOps - 2;
    for (let i = 0; i < entries.length || i === 0; i += limit) {
      const chunk = entries.slice(i, i + limit);
      const ops = chunk.map(([k, v]) => (v === null ? ns.delete().key(k) : ns.put(k).value(v)));
      if (i + limit >= entries.length) ops.push(ns.delete().key(key.startsWith(KEYS.journals) ? key : `${KEYS.journals}${key}`));
      const txn = fence ? ns.if(fence.key, 'Create', '==', fence.term) : ns.if(KEYS.writer, 'Version', '>', -1);
      const res = await txn.then(...ops).commit();
      if (fence && !res.succeeded) throw new Error('lost the leadership while replaying a journal');
    }
    logger.warn({ journal: key, keys: entries.length }, 'replayed a transaction the previous leader left half applied');
  }
  return Object.keys(journals).length;
}
