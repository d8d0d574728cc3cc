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
import { HostSlots } from './host-slots.js';
import type { AttemptStarter, QueueControl, QueueSettings } from './queue-contracts.js';
import type { VoCatalog } from './vo-catalog.js';

/** What the queue works with. */
export interface OperationQueueDeps {
  store: StateStore;
  pool: NodePool;
  registry: AgentRegistry;
  catalog: VoCatalog;
  events: EventBus;
  clock: Clock;
  logger: Logger;
  settings: QueueSettings;
  /** Told how long each dispatch pass (placement of every queued operation) took, in ms. */
  onDispatchPass?(ms: number, queued: number): void;
}

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
  private dispatching = false;
  private again = false;
  private stopped = false;

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
    const ops = store.transaction(() =>
      Array.from({ length: count }, () => {
        const id = randomUUID();
        const node = pool.lease(vo, id, now);
        return store.insertOperation(newOperation(id, 'deploy', vo, node.hostname, pinnedHost, trigger, now));
      }),
    );
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

  /** Asks for a dispatch pass soon (coalesced). */
  pump(): void {
    if (this.stopped) return;
    if (this.dispatching) {
      this.again = true;
      return;
    }
    this.dispatching = true;
    queueMicrotask(() => {
      try {
        do {
          this.again = false;
          this.dispatch();
        } while (this.again);
      } catch (e) {
        this.deps.logger.error({ err: e }, 'dispatch failed');
      } finally {
        this.dispatching = false;
      }
    });
  }

  /** Stops dispatching new work (running attempts go on until they end). */
  stop(): void {
    this.stopped = true;
  }

  /** True if the operation runs in this process now. */
  isLive(opId: string): boolean {
    return this.live.has(opId);
  }

  /** Queued and running operation counts. */
  depth(): { queued: number; running: number } {
    return { queued: this.deps.store.operationsIn(['queued']).length, running: this.live.size };
  }

  /** Called by the runner when an attempt ends or gives up its host early (VMB end) or its transfer slot (PT end). */
  releaseHost(opId: string): void {
    const live = this.live.get(opId);
    if (live) this.slots.release(live.host, opId);
    this.pump();
  }

  /** Gives back the site-wide transfer slot of a deployment (at PT end or when it ends). */
  releaseTransfer(opId: string): void {
    const live = this.live.get(opId);
    if (live?.transfer) {
      live.transfer = false;
      this.transfers--;
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

  private dispatch(): void {
    const t0 = this.deps.clock.monotonicMs();
    const queued = this.deps.store.operationsIn(['queued']);
    for (const op of queued) {
      if (op.kind === 'deploy') this.tryStartDeploy(op);
      else this.tryStartRemoval(op);
    }
    this.deps.onDispatchPass?.(this.deps.clock.monotonicMs() - t0, queued.length);
  }

  private tryStartDeploy(op: OperationRecord): void {
    const { store, catalog, settings } = this.deps;
    const app = catalog.appliance(op.vo);
    if (!app) return this.runner?.giveUp(op, `VO "${op.vo}" left the policy before the deployment could start`);
    const hosts = this.placementHosts();
    const exclude = new Set(op.excludedHosts);
    const outcome = chooseHost(hosts, { memoryMb: app.memoryMb, vcpus: app.vcpus, imageSha256: app.disk.sha256, exclude, pinnedHost: op.pinnedHost });
    if (!outcome.host) {
      const upNotExcluded = hosts.filter((h) => h.up && !exclude.has(h.name) && (!op.pinnedHost || h.name === op.pinnedHost));
      if (op.attempt > 0 && upNotExcluded.length === 0 && !outcome.waitForBusy) return this.runner?.giveUp(op, `${op.error}; no other host to retry on`);
      const waiting = `waiting: ${outcome.reason}`;
      if (op.error !== waiting && op.attempt === 0) this.publish(store.updateOperation(op.id, { error: waiting })!);
      return;
    }
    const host = hosts.find((h) => h.name === outcome.host)!;
    const transfer = !host.cachedImages.includes(app.disk.sha256);
    if (transfer && this.transfers >= settings.maxConcurrentTransfers) return;
    if (!this.slots.tryAcquire(host.name, op.id)) return;
    if (transfer) this.transfers++;
    this.live.set(op.id, { host: host.name, kind: 'deploy', memoryBytes: app.memoryMb * 1024 * 1024, vcpus: app.vcpus, transfer });
    this.runner?.startDeploy(op, host.name, app);
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

  private placementHosts(): PlacementHost[] {
    const nodes = this.deps.store.nodes();
    return this.deps.registry.list().map((h) => {
      const liveHere = [...this.live.values()].filter((l) => l.host === h.name && l.kind === 'deploy');
      return {
        name: h.name,
        up: h.state === 'up',
        cpus: h.facts?.cpus ?? 0,
        memoryAvailableBytes: h.facts?.memoryAvailableBytes ?? 0,
        cachedImages: h.facts?.cachedImages ?? [],
        pendingMemoryBytes: liveHere.reduce((s, l) => s + l.memoryBytes, 0),
        pendingVcpus: liveHere.reduce((s, l) => s + l.vcpus, 0),
        committedVcpus: this.committedVcpus(nodes, h.name),
        busy: this.slots.busy(h.name),
      };
    });
  }

  private committedVcpus(nodes: NodeRecord[], host: string): number {
    return nodes
      .filter((n) => n.host === host && (n.state === 'running' || n.state === 'draining'))
      .reduce((s, n) => s + (this.deps.catalog.appliance(n.vo)?.vcpus ?? 1), 0);
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
