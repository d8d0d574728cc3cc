import { randomUUID } from 'node:crypto';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../shared/errors.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { validateHostname } from '../../shared/validation.js';
import { nodeToWire, operationToWire } from '../api/wire.js';
import type { EventBus } from '../events/event-bus.js';
import type { AgentRegistry } from '../inventory/agent-registry.js';
import { chooseHost, type PlacementHost } from '../placement/placement.js';
import type { NodePool } from '../pool/node-pool.js';
import type { NodeRecord, OperationRecord, OperationTrigger } from '../store/records.js';
import type { StateStore } from '../store/state-store.js';
import type { TransferScheduler } from '../transfers/transfer-scheduler.js';
import { HostSlots } from './host-slots.js';
import type { AttemptStarter, QueueControl, QueueSettings } from './queue-contracts.js';
import type { VoCatalog } from './vo-catalog.js';

/** What the queue works with. */
export interface OperationQueueDeps {
  /** False while this coordinator may not act (an HA leader whose lease is unconfirmed): dispatch waits. */
  canDispatch?: () => boolean;
  store: StateStore;
  pool: NodePool;
  registry: AgentRegistry;
  catalog: VoCatalog;
  events: EventBus;
  clock: Clock;
  logger: Logger;
  settings: QueueSettings;
  /** Bandwidth-aware admission of image downloads (sources and rates). */
  transfers: TransferScheduler;
  /** Told how long each dispatch pass (placement of every queued operation) took, in ms. */
  onDispatchPass?(ms: number, queued: number): void;
}

/** Placement's view of the hosts during one dispatch pass; updated as deployments start. */
interface PlacementView {
  hosts: PlacementHost[];
  byName: Map<string, PlacementHost>;
  /** Hosts up and not busy. */
  idle: number;
  /** A download was refused a link in this pass: later deployments take only hosts that cache their image (arrival order keeps its meaning). */
  linksFull: boolean;
  /** Hosts caching each image, computed once per image per pass (the transfer cap needs them). */
  caching: Map<string, PlacementHost[]>;
  /**
   * VOs whose unpinned, never-failed deployments found no host in this pass:
   * every later one of the same VO would fail the same way, so it is skipped
   * at O(1) instead of placed again (the cost no longer grows with queued × hosts).
   */
  blocked: Set<string>;
}

/**
 * A dispatch slice works at most this long before it yields to the event
 * loop (heartbeats, health checks, metrics) and continues in the next turn.
 */
export const DISPATCH_SLICE_MS = 5;
/**
 * Only the first deployments of the queue get their "waiting: …" reason
 * written and published: past them the reason says nothing new and would
 * cost a write and two events per queued deployment per pass.
 */
export const WAITING_REASONS_AT_HEAD = 20;
/**
 * How long a host with a failed deployment attempt is placed after every
 * other idle host. Long enough that the deployments queued with the failed
 * one go elsewhere; short enough that a host whose fault went away gets work
 * again without an admin.
 */
export const FAILED_HOST_PENALTY_MS = 60_000;

/** An operation running in this process. */
interface LiveOperation {
  host: string;
  kind: OperationRecord['kind'];
  memoryBytes: number;
  vcpus: number;
  transfer: boolean;
}

/**
 * The site's deployment queue: every deployment, drain and removal, manual
 * or automatic, is persisted here before it acts and dispatched in arrival
 * order under two limits: one operation per host at a time (HostSlots) and
 * a site-wide cap on deployments that must download their image. Running
 * an attempt is the OperationRunner's job; this class decides what may run.
 */
export class OperationQueue implements QueueControl {
  readonly slots = new HostSlots();
  private readonly live = new Map<string, LiveOperation>();
  private transfers = 0;
  private runner: AttemptStarter | undefined;
  private scheduled = false;
  private stopped = false;
  /** When a deployment attempt last failed on each host (host-side causes only). */
  private readonly lastFailureMs = new Map<string, number>();

  constructor(private readonly deps: OperationQueueDeps) {}

  /** Connects the runner (they refer to each other). */
  attach(runner: AttemptStarter): void {
    this.runner = runner;
  }

  /** Queues `count` deployments of a VO, leasing their pool triples in one transaction (all or none). Throws InvalidArgumentError, NotFoundError, ResourceExhaustedError. */
  submitDeploy(vo: string, count: number, pinnedHost: string, trigger: OperationTrigger): OperationRecord[] {
    const { store, pool, catalog, registry, clock } = this.deps;
    if (!catalog.appliance(vo)) throw new NotFoundError(`VO "${vo}" is not in the policy in force: check 'vonode policy show'`);
    if (!Number.isInteger(count) || count < 1 || count > pool.total) throw new InvalidArgumentError('count', `must be 1..${pool.total} (the pool size)`);
    if (pinnedHost && !registry.get(validateHostname('host', pinnedHost))) throw new NotFoundError(`host "${pinnedHost}" has no registered agent: see 'vonode hosts'`);
    const now = clock.nowMs();
    const ops = store.transaction(() => {
      const ids = Array.from({ length: count }, () => randomUUID());
      const nodes = pool.leaseMany(vo, ids, now);
      return ids.map((id, i) => store.insertOperation(newOperation(id, 'deploy', vo, nodes[i]!.hostname, pinnedHost, trigger, now)));
    });
    for (const op of ops) this.publish(op);
    this.pump();
    return ops;
  }

  /** Queues a drain (batch system first, then the VM) or an immediate removal of a node. Throws NotFoundError, FailedPreconditionError. */
  submitRemoval(hostname: string, kind: 'drain' | 'remove', trigger: OperationTrigger): OperationRecord {
    const { store, clock } = this.deps;
    const node = store.node(validateHostname('hostname', hostname));
    if (!node) throw new NotFoundError(`node "${hostname}" is not leased: see 'vonode nodes'`);
    const current = store.operation(node.operationId);
    if (current && (current.state === 'queued' || current.state === 'running') && current.kind !== 'deploy') {
      return current; // already being drained or removed: the same operation answers
    }
    if (current?.kind === 'deploy' && current.state === 'queued') return this.cancelQueuedDeploy(current, node);
    if (current?.kind === 'deploy' && current.state === 'running') {
      throw new FailedPreconditionError(`node ${hostname} is being deployed (operation ${current.id}); drain or remove it once that ends`);
    }
    const op = store.transaction(() => {
      const rec = store.insertOperation(newOperation(randomUUID(), kind, node.vo, hostname, node.host, trigger, clock.nowMs()));
      store.updateNode(hostname, { operationId: rec.id });
      return rec;
    });
    this.publish(op);
    this.pump();
    return op;
  }

  /** Queues the removal of a domain an agent runs that no lease explains (recovery). */
  submitOrphanRemoval(hostname: string, vo: string, host: string): OperationRecord {
    const op = this.deps.store.insertOperation(newOperation(randomUUID(), 'remove', vo, hostname, host, 'recovery', this.deps.clock.nowMs()));
    this.publish(op);
    this.pump();
    return op;
  }

  /**
   * Asks for a dispatch pass soon. Coalesced: every pump of one event-loop
   * turn (a burst of heartbeats, finished attempts) costs one pass, run with
   * setImmediate so pending I/O is served before it.
   */
  pump(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped) return;
      try {
        // A slice that ran out of time asks for the next one; the queue state carries the progress.
        if (!this.dispatch()) this.pump();
      } catch (e) {
        this.deps.logger.error({ err: e }, 'dispatch failed');
      }
    });
  }

  /** Stops dispatching new work (running attempts go on until they end). */
  stop(): void {
    this.stopped = true;
  }

  hostFailed(host: string): void {
    this.lastFailureMs.set(host, this.deps.clock.nowMs());
  }

  /** True if the operation runs in this process now. */
  isLive(opId: string): boolean {
    return this.live.has(opId);
  }

  /** Queued and running operation counts. */
  depth(): { queued: number; running: number } {
    return { queued: this.deps.store.countOpen('queued'), running: this.live.size };
  }

  /** Called by the runner when an attempt ends or gives up its host early (VMB end) or its transfer slot (PT end). */
  releaseHost(opId: string): void {
    const live = this.live.get(opId);
    if (live) this.slots.release(live.host, opId);
    this.pump();
  }

  /** Gives back the transfer slot and link share of a deployment: at PT end (`completed`: the host now holds the image) or when it ends. */
  releaseTransfer(opId: string, completed = false): void {
    const live = this.live.get(opId);
    if (live?.transfer) {
      live.transfer = false;
      this.transfers--;
      this.deps.transfers.end(opId, completed);
      this.pump();
    }
  }

  /** Forgets a live operation once its attempt ended. */
  finished(opId: string): void {
    this.releaseTransfer(opId);
    const live = this.live.get(opId);
    if (live) this.slots.release(live.host, opId);
    this.live.delete(opId);
    this.pump();
  }

  /** Publishes an operation's (and its node's) current state. */
  publish(op: OperationRecord): void {
    this.deps.events.publish({ event: { $case: 'operation', value: operationToWire(op) } });
    const node = this.deps.store.node(op.node);
    if (node) this.deps.events.publish({ event: { $case: 'node', value: nodeToWire(node) } });
  }

  /**
   * One dispatch slice over the queue in arrival order: removals start as
   * soon as their host's agent is up; deployments are placed while some
   * host is idle. Returns false when it ran out of its time slice before the
   * end of the queue (the caller schedules the next slice).
   */
  private dispatch(): boolean {
    // Waiting, not failing: the 1 s backstop pump tries again once the leader may act.
    if (this.deps.canDispatch && !this.deps.canDispatch()) return true;
    const { clock, store } = this.deps;
    const t0 = clock.monotonicMs();
    let view: PlacementView | undefined; // built once per slice, and only if a deployment waits
    let deploysSeen = 0;
    let complete = true;
    // Collected first: starting an operation changes the open set being iterated.
    const queued: OperationRecord[] = [];
    // Hosts where a node's removal is still to happen (an orphan a restart or failover found half-made):
    // a deployment of that node waits for it there, or the removal would take the new domain.
    const removing = new Map<string, Set<string>>();
    for (const op of store.openOperations()) {
      if (op.state === 'queued') queued.push(op);
      if (op.kind !== 'deploy' && op.pinnedHost) removing.set(op.node, (removing.get(op.node) ?? new Set()).add(op.pinnedHost));
    }
    for (const op of queued) {
      if (op.kind !== 'deploy') {
        this.tryStartRemoval(op);
      } else {
        deploysSeen++;
        view ??= this.placementView();
        // Every host busy or down: no deployment can start in this pass (they stay queued, in order).
        if (view.idle > 0) this.tryStartDeploy(op, view, deploysSeen <= WAITING_REASONS_AT_HEAD, removing.get(op.node));
      }
      if (clock.monotonicMs() - t0 > DISPATCH_SLICE_MS) {
        complete = false;
        break;
      }
    }
    this.deps.onDispatchPass?.(clock.monotonicMs() - t0, queued.length);
    return complete;
  }

  private tryStartDeploy(op: OperationRecord, view: PlacementView, atHead: boolean, removingOn: ReadonlySet<string> | undefined): void {
    const { store, catalog, settings } = this.deps;
    const app = catalog.appliance(op.vo);
    if (!app) return this.runner?.giveUp(op, `VO "${op.vo}" left the policy before the deployment could start`);
    // Deployments of one VO with no pin and no failed host ask placement the same question.
    const plain = !op.pinnedHost && op.excludedHosts.length === 0 && !removingOn;
    if (plain && view.blocked.has(op.vo) && !atHead) return;
    const exclude = new Set([...op.excludedHosts, ...(removingOn ?? [])]);
    // The transfer ceiling reached, or no link had room: only hosts that already cache the appliance can take it now.
    const cappedOut = view.linksFull || this.transfers >= settings.maxConcurrentTransfers;
    const hosts = cappedOut ? cachingHosts(view, app.disk.sha256) : view.hosts;
    const outcome = chooseHost(hosts, { memoryMb: app.memoryMb, vcpus: app.vcpus, imageSha256: app.disk.sha256, exclude, pinnedHost: op.pinnedHost });
    if (!outcome.host) {
      if (plain) view.blocked.add(op.vo);
      if (cappedOut) return; // waits for a transfer slot, not for a host
      const upNotExcluded = view.hosts.some((h) => h.up && !exclude.has(h.name) && (!op.pinnedHost || h.name === op.pinnedHost));
      // With no host up at all (a new leader before its agents found it, a site-wide outage) a retry waits.
      const anyUp = view.hosts.some((h) => h.up);
      if (op.attempt > 0 && anyUp && !upNotExcluded && !outcome.waitForBusy && !removingOn) return this.runner?.giveUp(op, `${op.error}; no other host to retry on`);
      const waiting = `waiting: ${outcome.reason}`;
      if (atHead && op.error !== waiting && op.attempt === 0) this.publish(store.updateOperation(op.id, { error: waiting })!);
      return;
    }
    const host = view.byName.get(outcome.host)!;
    const transfer = !host.cachedImages.includes(app.disk.sha256);
    const plan = transfer ? this.deps.transfers.plan(host.name, app.disk.sha256) : undefined;
    if (transfer && !plan) {
      view.linksFull = true;
      return; // waits for a link with room (or a host that caches the image)
    }
    if (!this.slots.tryAcquire(host.name, op.id)) return;
    if (plan) {
      this.transfers++;
      this.deps.transfers.start(op.id, host.name, app.disk.sha256, app.disk.sizeBytes, plan, 'deploy');
    }
    const memoryBytes = app.memoryMb * 1024 * 1024;
    host.busy = true;
    host.pendingMemoryBytes += memoryBytes;
    host.pendingVcpus += app.vcpus;
    view.idle--;
    this.live.set(op.id, { host: host.name, kind: 'deploy', memoryBytes, vcpus: app.vcpus, transfer });
    this.runner?.startDeploy(op, host.name, plan ? { ...app, disk: { ...app.disk, peers: plan.peers, rateBytesPerSecond: plan.rateBytesPerSecond } } : app);
  }

  private tryStartRemoval(op: OperationRecord): void {
    const host = this.deps.registry.get(op.pinnedHost);
    if (!host || host.state !== 'up') {
      const reason = `waiting: agent on ${op.pinnedHost || '(no host)'} is ${host ? 'down' : 'not registered'}`;
      if (op.error !== reason) this.publish(this.deps.store.updateOperation(op.id, { error: reason })!);
      return;
    }
    this.live.set(op.id, { host: host.name, kind: op.kind, memoryBytes: 0, vcpus: 0, transfer: false });
    this.runner?.startRemoval(op, host.name);
  }

  /** What placement needs of every host, computed once per pass (nodes and live operations indexed by host). */
  private placementView(): PlacementView {
    const vcpusByHost = new Map<string, number>();
    for (const n of this.deps.store.nodes()) {
      if (n.state !== 'running' && n.state !== 'draining') continue;
      vcpusByHost.set(n.host, (vcpusByHost.get(n.host) ?? 0) + (this.deps.catalog.appliance(n.vo)?.vcpus ?? 1));
    }
    const pending = new Map<string, { memory: number; vcpus: number }>();
    for (const l of this.live.values()) {
      if (l.kind !== 'deploy') continue;
      const p = pending.get(l.host) ?? { memory: 0, vcpus: 0 };
      pending.set(l.host, { memory: p.memory + l.memoryBytes, vcpus: p.vcpus + l.vcpus });
    }
    const hosts: PlacementHost[] = [];
    let idle = 0;
    const now = this.deps.clock.nowMs();
    for (const h of this.deps.registry.values()) {
      const busy = this.slots.busy(h.name);
      const up = h.state === 'up';
      if (up && !busy) idle++;
      hosts.push({
        name: h.name, up, busy,
        cpus: h.facts?.cpus ?? 0,
        memoryAvailableBytes: h.facts?.memoryAvailableBytes ?? 0,
        cachedImages: h.facts?.cachedImages ?? [],
        pendingMemoryBytes: pending.get(h.name)?.memory ?? 0,
        pendingVcpus: pending.get(h.name)?.vcpus ?? 0,
        committedVcpus: vcpusByHost.get(h.name) ?? 0,
        failedRecently: now - (this.lastFailureMs.get(h.name) ?? -Infinity) < FAILED_HOST_PENALTY_MS,
      });
    }
    return { hosts, byName: new Map(hosts.map((h) => [h.name, h])), idle, caching: new Map(), blocked: new Set(), linksFull: false };
  }

  private cancelQueuedDeploy(op: OperationRecord, node: NodeRecord): OperationRecord {
    const { store, pool, clock } = this.deps;
    const done = store.transaction(() => {
      pool.release(node.hostname);
      return store.updateOperation(op.id, { state: 'failed', error: 'cancelled before it started (node removed)', finishedMs: clock.nowMs() })!;
    });
    this.publish(done);
    return done;
  }
}

/** Hosts of the view that cache `sha256` (once per image per pass). */
function cachingHosts(view: PlacementView, sha256: string): PlacementHost[] {
  let hosts = view.caching.get(sha256);
  if (!hosts) {
    hosts = view.hosts.filter((h) => h.cachedImages.includes(sha256));
    view.caching.set(sha256, hosts);
  }
  return hosts;
}

function newOperation(
  id: string,
  kind: OperationRecord['kind'],
  vo: string,
  node: string,
  pinnedHost: string,
  trigger: OperationTrigger,
  now: number,
): Omit<OperationRecord, 'seq'> {
  return { id, kind, state: 'queued', vo, node, host: '', pinnedHost, attempt: 0, excludedHosts: [], error: '', trigger, createdMs: now, finishedMs: 0 };
}
