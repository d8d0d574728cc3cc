import type { Clock } from '../../shared/clock.js';
import { DomainState, type Domain } from '../../shared/gen/vonode/v1/common.js';
import type { Logger } from '../../shared/logger.js';
import { usageStart } from '../accounting/usage-start.js';
import type { HostView } from '../inventory/agent-registry.js';
import type { NodePool } from '../pool/node-pool.js';
import type { OperationRecord } from '../store/records.js';
import type { StateStore } from '../store/state-store.js';
import type { QueueControl } from './queue-contracts.js';

/** What reconciliation works with. */
export interface ReconcilerDeps {
  store: StateStore;
  pool: NodePool;
  queue: QueueControl;
  clock: Clock;
  logger: Logger;
}

/**
 * Makes the coordinator's records and the agents' real domains agree, so a
 * crash of either side leaks no pool triple, domain or DHCP entry:
 * - at start, operations the previous process left 'running' are orphaned:
 *   their fate is settled when their host's agent registers (adopted if the
 *   domain runs with its lease, otherwise cleaned up and queued again), or
 *   after a grace period without it (queued again elsewhere);
 * - on every registration, a domain no lease explains is queued for removal,
 *   and a running node whose domain vanished gives its triple back.
 */
export class Reconciler {
  private readonly orphaned = new Map<string, OperationRecord>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Collects operations a crashed predecessor left running; returns how many. */
  collectOrphans(): number {
    for (const op of this.deps.store.operationsIn(['running', 'retrying'])) this.orphaned.set(op.id, op);
    if (this.orphaned.size) this.deps.logger.warn({ count: this.orphaned.size }, 'operations interrupted by a restart; waiting for their agents');
    return this.orphaned.size;
  }

  /** Requeues orphans whose host never registered within the grace period. */
  expireOrphans(): void {
    for (const op of this.orphaned.values()) {
      this.orphaned.delete(op.id);
      this.requeue(op, `agent on ${op.host} did not come back after the coordinator restart`, true);
    }
  }

  /** Orphaned operations still waiting for their host. */
  get pending(): number {
    return this.orphaned.size;
  }

  /** Reconciles one host's domains with the records; call on every registration. */
  onRegistered(host: HostView, domains: readonly Domain[]): void {
    const byName = new Map(domains.filter((d) => d.spec).map((d) => [d.spec!.hostname, d]));
    for (const op of [...this.orphaned.values()].filter((o) => o.host === host.name)) {
      this.orphaned.delete(op.id);
      this.settleOrphan(op, byName.get(op.node));
    }
    this.removeUnexplained(host, domains);
    this.releaseVanished(host, byName);
  }

  private settleOrphan(op: OperationRecord, domain: Domain | undefined): void {
    const { store, queue, clock, logger } = this.deps;
    if (op.kind === 'deploy' && domain && domain.state === DomainState.DOMAIN_STATE_RUNNING && domain.leasedIp) {
      const done = store.transaction(() => {
        store.updateNode(op.node, { state: 'running', sinceMs: clock.nowMs() });
        // A record the predecessor opened stays (startUsage keeps it); otherwise the life starts now, as the agent runs it.
        if (domain.spec) store.startUsage(usageStart(domain.spec, { host: op.host, operationId: op.id, attempt: op.attempt, startMs: clock.nowMs() }));
        return store.updateOperation(op.id, { state: 'succeeded', finishedMs: clock.nowMs(), error: '' })!;
      });
      logger.info({ op: op.id, node: op.node, host: op.host }, 'interrupted deployment had finished: adopted');
      queue.publish(done);
      return;
    }
    if (op.kind === 'deploy' && domain) queue.submitOrphanRemoval(op.node, op.vo, op.host);
    this.requeue(op, 'interrupted by a coordinator restart', false);
  }

  private requeue(op: OperationRecord, reason: string, exclude: boolean): void {
    const { store, queue, clock } = this.deps;
    const requeued = store.transaction(() => {
      if (op.kind === 'deploy') {
        // A VM of this deployment that ran before the restart is not running now (or its host did not come back).
        store.endUsage(op.node, { endMs: clock.nowMs(), status: 'failed', endOperationId: op.id });
        store.updateNode(op.node, { host: '', state: 'deploying' });
      }
      return store.updateOperation(op.id, {
        state: 'queued',
        error: reason,
        excludedHosts: exclude && op.host ? [...op.excludedHosts, op.host] : op.excludedHosts,
      })!;
    });
    this.deps.logger.info({ op: op.id, node: op.node, reason }, 'operation queued again');
    queue.publish(requeued);
    queue.pump();
  }

  /** Domains on the host that no lease (on this host) explains are removed. */
  private removeUnexplained(host: HostView, domains: readonly Domain[]): void {
    const { store, queue, logger } = this.deps;
    const pendingRemovals = new Set(
      store.operationsIn(['queued', 'running']).filter((o) => o.kind !== 'deploy' && o.pinnedHost === host.name).map((o) => o.node),
    );
    for (const d of domains) {
      const hostname = d.spec?.hostname;
      if (!hostname || pendingRemovals.has(hostname)) continue;
      const node = store.node(hostname);
      const explained = node !== undefined && node.host === host.name;
      if (explained) continue;
      logger.warn({ host: host.name, domain: d.name, leasedTo: node?.host ?? null }, 'domain no lease explains: removing it');
      queue.submitOrphanRemoval(hostname, d.spec?.vo ?? '', host.name);
    }
  }

  /** Running nodes whose domain the host no longer has give their triple back. */
  private releaseVanished(host: HostView, byName: Map<string, Domain>): void {
    const { store, pool, queue, logger } = this.deps;
    for (const node of store.nodes()) {
      if (node.host !== host.name || byName.has(node.hostname)) continue;
      if (node.state !== 'running' && node.state !== 'draining') continue;
      if (queue.isLive(node.operationId)) continue;
      logger.warn({ host: host.name, node: node.hostname }, 'node vanished from its host: freeing its triple');
      this.deps.store.transaction(() => {
        store.endUsage(node.hostname, { endMs: this.deps.clock.nowMs(), status: 'failed', endOperationId: '' });
        pool.release(node.hostname);
      });
      const op = store.operation(node.operationId);
      if (op) queue.publish(op);
    }
  }
}
