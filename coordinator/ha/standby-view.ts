import type { IKeyValue, Namespace, Watcher } from 'etcd3';
import { errorMessage, NotLeaderError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { phaseMarkToWire } from '../../shared/rpc/phase-codec.js';
import { nodeToWire, operationToWire } from '../api/wire.js';
import type { EventBus } from '../events/event-bus.js';
import type { NodeRecord, OperationRecord, PhaseRow, UsageRecord } from '../store/records.js';
import { EtcdHistory, readSnapshot } from '../store/etcd/etcd-backend.js';
import type { HostView } from '../inventory/agent-registry.js';
import { HOSTS_PREFIX, type PublishedHost } from './host-publisher.js';
import { POLICY_KEY } from './policy-sync.js';
import { KEYS } from '../store/etcd/etcd-keys.js';
import { StateStore } from '../store/state-store.js';
import type { StoreBackend, StoreChange } from '../store/store-backend.js';

/** Where a standby keeps the hosts the leader publishes. */
export interface HostReplica {
  replicate(name: string, view: HostView | undefined): void;
}

/** What a standby does with the policy the leader publishes. */
export type PolicyFollower = (text: string) => void;

/** How a standby answers a write: the leader is elsewhere. */
export type LeaderLookup = () => string;

/** A standby's backend: history from etcd, every write refused (the guard refuses first; this is the backstop). */
class ReadOnlyEtcdBackend extends EtcdHistory implements StoreBackend {
  readonly kind = 'etcd';

  constructor(ns: Namespace, private readonly leader: LeaderLookup) {
    super(ns);
  }

  write(_changes: readonly StoreChange[]): void {
    throw new NotLeaderError(this.leader());
  }

  durable(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Pause before a broken watch is opened again. */
const REWATCH_MS = 500;

/**
 * What a standby coordinator serves reads from: the leader's state read
 * once from etcd, then kept current by a watch on the site's prefix (the
 * pattern of a Kubernetes informer: list, then watch from the next
 * revision). It republishes the leader's operation, node and phase changes
 * on the local event bus, so `vonode events` works against a standby too.
 * A broken watch (etcd member lost, history compacted) lists again.
 */
export class StandbyView {
  readonly store: StateStore;
  private watcher: Watcher | undefined;
  private closed = false;

  private constructor(
    private readonly ns: Namespace,
    private readonly prefix: string,
    private readonly events: EventBus,
    private readonly logger: Logger,
    leader: LeaderLookup,
    private readonly hosts: HostReplica,
    private readonly onPolicy: PolicyFollower,
  ) {
    this.store = new StateStore(new ReadOnlyEtcdBackend(ns, leader), { nodes: [], openOperations: [], lastSeq: 0, openUsage: [] }, { assertWritable: () => { throw new NotLeaderError(leader()); } });
  }

  /** Reads the state and starts following it (in the background if etcd does not answer now). */
  static async open(ns: Namespace, prefix: string, events: EventBus, logger: Logger, leader: LeaderLookup, hosts: HostReplica, onPolicy: PolicyFollower): Promise<StandbyView> {
    const view = new StandbyView(ns, prefix, events, logger, leader, hosts, onPolicy);
    try {
      await view.follow();
    } catch (e) {
      // etcd without quorum (or unreachable): serve what there is (nothing yet) and status saying why, and keep trying.
      logger.warn({ err: errorMessage(e) }, 'cannot read the state from etcd; serving an empty view until it answers');
      void view.refollow();
    }
    return view;
  }

  /** Stops following (the coordinator was elected, or shuts down). */
  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
  }

  private async follow(): Promise<void> {
    const snapshot = await readSnapshot(this.ns);
    this.store.resetReplicated(snapshot);
    const hosts = await this.ns.getAll().prefix(HOSTS_PREFIX).revision(snapshot.revision).strings();
    for (const [key, text] of Object.entries(hosts)) this.applyHost(keyOf({ key: Buffer.from(key) } as IKeyValue, this.prefix), text);
    const policy = await this.ns.get(POLICY_KEY).revision(snapshot.revision).string();
    if (policy !== null) this.onPolicy(policy);
    const watcher = (this.watcher = await this.ns.watch().prefix('').startRevision(String(snapshot.revision + 1)).create());
    watcher.on('put', (kv) => this.apply(keyOf(kv, this.prefix), kv.value.toString()));
    watcher.on('delete', (kv) => this.apply(keyOf(kv, this.prefix), undefined));
    watcher.on('error', (err) => {
      this.logger.warn({ err: errorMessage(err) }, 'the standby lost its watch on etcd; reading the state again');
      void watcher.cancel().catch(() => undefined);
      void this.refollow();
    });
  }

  private async refollow(): Promise<void> {
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, REWATCH_MS));
      try {
        await this.follow();
        return;
      } catch (e) {
        this.logger.warn({ err: errorMessage(e) }, 'cannot read the state from etcd yet; retrying');
      }
    }
  }

  private applyHost(key: string, value: string | undefined): void {
    const name = key.slice(HOSTS_PREFIX.length);
    if (value === undefined) return this.hosts.replicate(name, undefined);
    this.hosts.replicate(name, { ...(JSON.parse(value) as PublishedHost), lastSeenMonoMs: 0 });
  }

  private apply(key: string, value: string | undefined): void {
    if (key.startsWith(HOSTS_PREFIX)) {
      this.applyHost(key, value);
    } else if (key === POLICY_KEY && value !== undefined) {
      this.onPolicy(value);
    } else if (key.startsWith(KEYS.nodes)) {
      const hostname = key.slice(KEYS.nodes.length);
      const record = value === undefined ? undefined : (JSON.parse(value) as NodeRecord);
      this.store.replicateNode(hostname, record);
      if (record) this.events.publish({ event: { $case: 'node', value: nodeToWire(record) } });
    } else if (value !== undefined && (key.startsWith(KEYS.openOps) || key.startsWith(KEYS.doneOps))) {
      const op = JSON.parse(value) as OperationRecord;
      this.store.replicateOperation(op);
      this.events.publish({ event: { $case: 'operation', value: operationToWire(op) } });
    } else if (key.startsWith(KEYS.openUsages)) {
      if (value === undefined) this.store.replicateUsageClosed(key.slice(KEYS.openUsages.length));
      else this.store.replicateUsage(JSON.parse(value) as UsageRecord);
    } else if (value !== undefined && key.startsWith(KEYS.doneUsages)) {
      this.store.replicateUsage(JSON.parse(value) as UsageRecord);
    } else if (value !== undefined && key.startsWith(KEYS.phases)) {
      const row = JSON.parse(value) as PhaseRow;
      this.events.publish({ event: { $case: 'phase', value: phaseMarkToWire({ ...row, operationId: row.operationId, hostname: '' }) } });
    }
  }
}

/** A watched key without the namespace prefix (etcd3's namespaced watcher may hand it either way). */
function keyOf(kv: IKeyValue, prefix: string): string {
  const key = kv.key.toString();
  return key.startsWith(prefix) ? key.slice(prefix.length) : key;
}
