import type { Watcher } from 'etcd3';
import type { Clock } from '../../shared/clock.js';
import { errorMessage, NotLeaderError } from '../../shared/errors.js';
import type { CoordinatorCluster } from '../../shared/gen/vonode/v1/coordinator.js';
import type { Logger } from '../../shared/logger.js';
import type { EventBus } from '../events/event-bus.js';
import { openEtcdStore } from '../store/etcd/etcd-backend.js';
import { KEYS } from '../store/etcd/etcd-keys.js';
import type { StateStore } from '../store/state-store.js';
import { ClusterStatus } from './cluster-status.js';
import { connectEtcd, type EtcdConnection, type EtcdStoreConfig } from './etcd-connection.js';
import { campaigners, LeaderElection, type Campaigner } from './leader-election.js';
import type { EtcdFence } from '../store/etcd/etcd-fence.js';

/** How often a write waiting for a leader holding still looks again. */
const READY_POLL_MS = 50;
/** Pause between campaigns while etcd cannot grant a lease. */
const CAMPAIGN_RETRY_MS = 1000;
import { StandbyView, type HostReplica } from './standby-view.js';
import { HostPublisher } from './host-publisher.js';
import { PolicySync } from './policy-sync.js';
import type { PolicyWatcher } from '../policy/policy-watcher.js';

/** What membership needs. */
export interface HaMembershipOptions {
  config: EtcdStoreConfig;
  /** This coordinator's policy: followed on a standby, published by the leader. */
  policy: PolicyWatcher;
  /** This coordinator's advertised address. */
  advertise: string;
  events: EventBus;
  clock: Clock;
  logger: Logger;
}

/**
 * One coordinator's membership in an HA site: its connection to etcd, the
 * standby view it serves reads from, its campaign, and once elected the
 * fenced store it leads from. Knows the current leader (election keys,
 * watched) so that a refused write can name it.
 */
export class HaMembership {
  /** True from election until the leadership is lost. */
  leading = false;
  /** The term while leading (0 before). */
  term = 0;
  private readonly conn: EtcdConnection;
  private election: LeaderElection;
  private closing = false;
  private readonly status: ClusterStatus;
  private view: StandbyView | undefined;
  private members: Campaigner[] = [];
  private membersWatch: Watcher | undefined;
  private fatal: string | undefined;
  /** The leader's agent registry published for the standbys (leader only). */
  hosts: HostPublisher | undefined;
  private readonly policySync: PolicySync;
  private stopPublishingPolicy: (() => void) | undefined;
  private readonly lostListeners: Array<(reason: string) => void> = [];

  constructor(private readonly o: HaMembershipOptions) {
    this.conn = connectEtcd(o.config);
    this.election = this.newElection();
    this.policySync = new PolicySync(this.conn.ns, o.policy, o.logger.child({ component: 'policy-sync' }));
    this.status = new ClusterStatus(o.config, this.conn.ns, o.advertise, {
      role: () => (this.leading ? 'leader' : 'standby'),
      problem: () => this.fatal ?? (this.members.length === 0 ? 'no coordinator leads: writes wait for an election' : ''),
    });
  }

  private newElection(): LeaderElection {
    const election = new LeaderElection({ ns: this.conn.ns, ttlSeconds: this.o.config.leaseTtl / 1000, address: this.o.advertise, clock: this.o.clock, logger: this.o.logger });
    // Before election a lost lease only means campaigning again; after it, the end of this term.
    election.onLost((reason) => {
      if (this.leading) this.lose(reason);
    });
    return election;
  }

  /** Reads the state from etcd and follows it; the store a standby serves reads from. Throws if etcd cannot be read. */
  async openStandbyView(hosts: HostReplica): Promise<StateStore> {
    await this.watchMembers();
    this.view = await StandbyView.open(this.conn.ns, this.o.config.prefix, this.o.events, this.o.logger, () => this.leaderAddress(), hosts, (text) => {
      if (!this.leading) void this.policySync.adopt(text);
    });
    return this.view.store;
  }

  /** The leader's advertised address as last seen ('' while none leads). */
  leaderAddress(): string {
    return this.members[0]?.address ?? '';
  }

  /** Throws NotLeaderError (naming the leader) unless this coordinator leads and its lease surely holds. */
  assertLeader(): void {
    if (this.fatal) throw new NotLeaderError(this.leaderAddress(), `this coordinator lost the leadership (${this.fatal})`);
    if (!this.leading) throw new NotLeaderError(this.leaderAddress());
    this.election.assertLeading();
  }

  /** Resolves once this leader may act (at once unless it leads and holds still; at most 2 TTLs). Never rejects. */
  async ready(): Promise<void> {
    const end = this.o.clock.monotonicMs() + 2 * this.o.config.leaseTtl;
    while (this.leading && !this.fatal && this.election.standing() === 'unconfirmed' && this.o.clock.monotonicMs() < end) {
      await this.o.clock.sleep(READY_POLL_MS);
    }
  }

  /** Throws NotLeaderError once the leadership is lost for good (a merely unconfirmed lease only holds commits back). */
  private assertNotLost(): void {
    if (this.fatal || !this.leading || this.election.standing() === 'lost') throw new NotLeaderError(this.leaderAddress(), 'this coordinator lost the leadership');
  }

  /** True while leading with a confirmed lease (false while it is unconfirmed, or when not leading). */
  canAct(): boolean {
    return this.leading && !this.fatal && this.election.confirmed();
  }

  /**
   * Campaigns until elected, then opens the fenced store at the current
   * revision and hands it to `onElected`. Rejects if the campaign fails.
   */
  async campaign(onElected: (store: StateStore) => Promise<void>): Promise<void> {
    const fence = await this.campaignUntilElected();
    await this.view?.close();
    // The store writes while the lease is confirmed (or holds commits back meanwhile) and never after it is lost.
    const { store, revision } = await openEtcdStore(
      { ns: this.conn.ns, fence, maxTxnOps: this.o.config.maxTxnOps, clock: this.o.clock, logger: this.o.logger, onFatal: (reason) => this.lose(reason) },
      { assertWritable: () => this.assertNotLost() },
    );
    // The site's last decided policy before anything runs on it; published from now on.
    await this.policySync.adopt(await this.policySync.published().catch(() => undefined));
    this.term = fence.term;
    this.leading = true;
    this.hosts = new HostPublisher(this.conn.ns, fence, this.o.logger);
    this.stopPublishingPolicy = this.policySync.lead(fence);
    this.o.logger.info({ term: fence.term, revision, nodes: store.nodeCount }, 'leading: state read from etcd, resuming the queue');
    await onElected(store);
  }

  /** Campaigns, again after a pause while etcd cannot grant a lease (no quorum): only a loss after election ends the process. */
  private async campaignUntilElected(): Promise<EtcdFence> {
    let warned = false;
    for (;;) {
      try {
        return await this.election.campaign();
      } catch (e) {
        if (this.closing) throw e;
        if (!warned) this.o.logger.warn({ err: errorMessage(e) }, 'cannot campaign: etcd does not answer (no quorum?); retrying');
        warned = true;
        this.election = this.newElection();
        await this.o.clock.sleep(CAMPAIGN_RETRY_MS);
      }
    }
  }

  /** Calls `fn` once when the leadership is lost (or the store refused this leader's writes). */
  onLost(fn: (reason: string) => void): void {
    if (this.fatal) fn(this.fatal);
    else this.lostListeners.push(fn);
  }

  /** The coordinators and the etcd members, for `vonode status`. */
  clusterView(): Promise<CoordinatorCluster> {
    return this.status.view();
  }

  /** Leaves the election (a standby takes over at once) and closes the connection. */
  async close(): Promise<void> {
    this.closing = true;
    this.hosts?.stop();
    await this.election.resign();
    await this.view?.close();
    await this.membersWatch?.cancel().catch(() => undefined);
    this.status.close();
    this.conn.close();
  }

  private lose(reason: string): void {
    if (this.fatal) return;
    this.hosts?.stop();
    this.stopPublishingPolicy?.();
    this.fatal = reason;
    this.leading = false;
    for (const fn of this.lostListeners.splice(0)) fn(reason);
  }

  /** Keeps `members` (the campaigners, leader first) current from a watch on the election keys. */
  private async watchMembers(): Promise<void> {
    const refresh = (): void => {
      void campaigners(this.conn.ns).then(
        (m) => (this.members = m),
        (e: unknown) => this.o.logger.warn({ err: errorMessage(e) }, 'cannot read the election keys'),
      );
    };
    this.members = await campaigners(this.conn.ns).catch(() => []);
    // Not awaited: without quorum the watch is made once etcd answers; its 'connected' reads the keys then.
    void this.conn.ns.watch().prefix(KEYS.election).create().then(
      (watcher) => {
        this.membersWatch = watcher;
        watcher.on('put', refresh);
        watcher.on('delete', refresh);
        watcher.on('connected', refresh);
        refresh();
      },
      (e: unknown) => this.o.logger.warn({ err: errorMessage(e) }, 'cannot watch the election keys'),
    );
  }
}
