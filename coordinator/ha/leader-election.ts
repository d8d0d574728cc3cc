import { EtcdLeaseInvalidError, type Lease, type Namespace } from 'etcd3';
import type { Clock } from '../../shared/clock.js';
import { errorMessage, NotLeaderError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { EtcdFence } from '../store/etcd/etcd-fence.js';
import { KEYS } from '../store/etcd/etcd-keys.js';

/** A coordinator campaigning or leading. */
export interface Campaigner {
  /** Advertised address (what clients are sent to). */
  address: string;
  /** Create revision of its election key: its term if it leads. */
  term: number;
}

/** What the election needs. */
export interface LeaderElectionOptions {
  /** The client namespaced to the store's prefix. */
  ns: Namespace;
  /** Lease TTL, whole seconds (etcd's unit; at least 1). */
  ttlSeconds: number;
  /** This coordinator's advertised address, the election key's value. */
  address: string;
  clock: Clock;
  logger: Logger;
}

/** How often the leader checks its own lease deadline. */
const DEADLINE_CHECK_MS = 50;
/** Part of the TTL kept as margin: the leader stops acting this long before etcd could expire its lease. */
const DEADLINE_MARGIN = 0.2;
/** An unconfirmed lease for this many TTLs ends the term (partitioned from etcd for good: hand over). */
const UNCONFIRMED_LIMIT_TTLS = 2;

/**
 * Leader election on etcd, the algorithm of etcd's own election API
 * (clientv3/concurrency): each coordinator puts `election/<lease id>` with
 * its address under a lease (TTL 2 s by default, kept alive every TTL/3);
 * the key with the lowest create revision leads, and its create revision is
 * the term. A candidate waits for the deletion of the key just before its
 * own (no thundering herd).
 *
 * Written on etcd3's lease and txn primitives rather than its Campaign class,
 * because fencing needs what that class hides: the key's create revision
 * (compared in every commit, carried to agents as the term) and the times
 * the lease was renewed. From these the leader knows, on its own monotonic
 * clock, the latest moment etcd may still consider its lease alive (last
 * keepalive sent + TTL, minus a margin): past it (a stopped process, a lost
 * network, no etcd quorum) it stops acting before any other coordinator
 * can be elected, with no round trip needed.
 */
export class LeaderElection {
  private lease: Lease | undefined;
  private key = '';
  private term = 0;
  private validUntil = 0;
  private firedAt = 0;
  private lostReason: string | undefined;
  private readonly lostListeners: Array<(reason: string) => void> = [];
  private monitor: ReturnType<typeof setInterval> | undefined;
  private keeper: ReturnType<typeof setInterval> | undefined;
  private keeping = false;
  private unconfirmedSince: number | undefined;

  constructor(private readonly o: LeaderElectionOptions) {}

  /** Joins the election and resolves when this coordinator leads, with its fence. Rejects if the lease is lost first. */
  async campaign(signal?: AbortSignal): Promise<EtcdFence> {
    const { ns, ttlSeconds, address, clock, logger } = this.o;
    const lease = (this.lease = ns.lease(ttlSeconds, { autoKeepAlive: true }));
    const grantedAt = clock.monotonicMs();
    const id = await lease.grant();
    this.validUntil = grantedAt + ttlSeconds * 1000;
    lease.on('keepaliveFired', () => (this.firedAt = clock.monotonicMs()));
    lease.on('keepaliveSucceeded', (res) => {
      this.validUntil = Math.max(this.validUntil, this.firedAt + Number(res.TTL) * 1000);
    });
    lease.on('lost', (err) => this.lose(`etcd lease lost: ${errorMessage(err)}`));
    this.key = `${KEYS.election}${BigInt(id).toString(16)}`;
    await ns.if(this.key, 'Create', '==', 0).then(ns.put(this.key).value(address).lease(id)).commit();
    const own = await ns.get(this.key).exec();
    this.term = Number(own.kvs[0]?.create_revision ?? 0);
    if (!this.term) throw new Error('the election key vanished right after it was written: the lease expired (is etcd overloaded?)');
    logger.info({ key: this.key, revision: this.term, ttlSeconds }, 'campaigning for leadership');
    await this.waitForTurn(signal);
    this.monitor = setInterval(() => this.checkDeadline(), DEADLINE_CHECK_MS);
    this.keeper = setInterval(() => void this.keepAlive(), (ttlSeconds * 1000) / 4);
    logger.info({ term: this.term }, 'elected leader');
    return { key: this.key, term: this.term, address, assertWritable: () => this.assertLeading(), standing: () => this.standing() };
  }

  /** Throws NotLeaderError unless this coordinator leads and its lease is surely alive. */
  assertLeading(): void {
    const standing = this.standing();
    if (standing === 'lost') throw new NotLeaderError('', `this coordinator lost the leadership (${this.lostReason ?? 'not elected'})`);
    if (standing === 'unconfirmed') throw new NotLeaderError('', 'this coordinator leads but etcd has not confirmed its lease within the TTL; it holds still until it does');
  }

  /**
   * 'leading' while the lease surely holds; 'unconfirmed' while etcd has not
   * answered a keepalive for longer than the TTL (minus a margin): etcd may
   * be electing its own leader (it refreshes every lease when it has one
   * again) or this process was stopped, so it must hold still, and goes on
   * only when etcd confirms the lease again; 'lost' for good.
   */
  standing(): 'leading' | 'unconfirmed' | 'lost' {
    if (this.lostReason || this.term === 0 || !this.monitor) return 'lost';
    return this.o.clock.monotonicMs() > this.deadline() ? 'unconfirmed' : 'leading';
  }

  /** True while leading with a lease etcd confirmed within the TTL. */
  confirmed(): boolean {
    return this.standing() === 'leading';
  }

  /** The term while leading (0 before). */
  get currentTerm(): number {
    return this.term;
  }

  /** Calls `fn` once, when the leadership (or the campaign) is lost. */
  onLost(fn: (reason: string) => void): void {
    if (this.lostReason) fn(this.lostReason);
    else this.lostListeners.push(fn);
  }

  /** Leaves the election: deletes the key (revokes the lease) so another coordinator leads at once. */
  async resign(): Promise<void> {
    if (this.monitor) clearInterval(this.monitor);
    if (this.keeper) clearInterval(this.keeper);
    this.monitor = undefined;
    await this.lease?.revoke().catch(() => undefined);
  }

  private deadline(): number {
    return this.validUntil - this.o.ttlSeconds * 1000 * DEADLINE_MARGIN;
  }

  private checkDeadline(): void {
    const now = this.o.clock.monotonicMs();
    if (now <= this.deadline()) {
      if (this.unconfirmedSince !== undefined) this.o.logger.info({ heldMs: Math.round(now - this.unconfirmedSince) }, 'etcd confirmed the lease again: acting again');
      this.unconfirmedSince = undefined;
      return;
    }
    if (this.unconfirmedSince === undefined) {
      this.unconfirmedSince = now;
      this.o.logger.warn({ term: this.term }, 'etcd has not confirmed the leadership lease within the TTL: holding still (no dispatch, no agent call, no commit) until it does');
    }
    if (now - this.unconfirmedSince > UNCONFIRMED_LIMIT_TTLS * this.o.ttlSeconds * 1000) {
      this.lose('no lease keepalive answered within the TTL (etcd unreachable, no quorum, or this process was stopped)');
    }
  }

  /**
   * Keepalives of our own besides the library's stream: a unary call goes
   * through the client's retries to another member at once, where the
   * stream, bound to one member, must first notice that member died.
   */
  private async keepAlive(): Promise<void> {
    if (this.keeping || !this.lease) return;
    this.keeping = true;
    const sent = this.o.clock.monotonicMs();
    try {
      const res = await this.lease.keepaliveOnce({ deadline: Date.now() + (this.o.ttlSeconds * 1000) / 2 });
      const ttl = Number(res.TTL);
      if (ttl <= 0) this.lose('etcd says the leadership lease expired: another coordinator may lead');
      else this.validUntil = Math.max(this.validUntil, sent + ttl * 1000);
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError) this.lose('etcd says the leadership lease expired: another coordinator may lead');
    } finally {
      this.keeping = false;
    }
  }

  private lose(reason: string): void {
    if (this.lostReason) return;
    this.lostReason = reason;
    if (this.monitor) clearInterval(this.monitor);
    if (this.keeper) clearInterval(this.keeper);
    this.monitor = undefined;
    for (const fn of this.lostListeners.splice(0)) fn(reason);
  }

  /** Waits until no election key older than ours exists. */
  private async waitForTurn(signal?: AbortSignal): Promise<void> {
    const { ns } = this.o;
    for (;;) {
      signal?.throwIfAborted();
      if (this.lostReason) throw new Error(this.lostReason);
      const before = await ns.getAll().prefix(KEYS.election).maxCreateRevision(String(this.term - 1)).sort('Create', 'Descend').limit(1).exec();
      const ahead = before.kvs[0];
      if (!ahead) return;
      const aheadKey = ahead.key.toString();
      await this.waitForDelete(aheadKey.slice(aheadKey.indexOf(KEYS.election)), Number(before.header.revision) + 1, signal);
    }
  }

  private async waitForDelete(key: string, fromRevision: number, signal?: AbortSignal): Promise<void> {
    const watcher = await this.o.ns.watch().key(key).startRevision(String(fromRevision)).create();
    try {
      await new Promise<void>((resolve, reject) => {
        watcher.on('delete', () => resolve());
        watcher.on('error', reject);
        this.lostListeners.push((reason) => reject(new Error(reason)));
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    } finally {
      await watcher.cancel().catch(() => undefined);
    }
  }
}

/** Every campaigning coordinator, leader first (lowest create revision). */
export async function campaigners(ns: Namespace): Promise<Campaigner[]> {
  const res = await ns.getAll().prefix(KEYS.election).sort('Create', 'Ascend').exec();
  return res.kvs.map((kv) => ({ address: kv.value.toString(), term: Number(kv.create_revision) }));
}
