import { connectivityState } from '@grpc/grpc-js';
import type { Clock } from '../shared/clock.js';
import { errorMessage, NotFoundError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { ProcessRunner } from '../shared/process/command-runner.js';
import type { SiteTrust } from '../shared/auth/site-trust.js';
import { AgentClient } from '../shared/rpc/agent-client.js';
import { SharedChannelCredentials } from '../shared/rpc/credentials.js';
import type { CoordinatorServiceDeps, WriteAuthority } from './api/coordinator-service.js';
import { hostToWire } from './api/wire.js';
import type { CoordinatorConfig } from './config.js';
import type { GridSteps } from './deploy/grid-steps.js';
import { OperationQueue } from './deploy/operation-queue.js';
import { OperationRunner, type AgentClients } from './deploy/operation-runner.js';
import { Reconciler } from './deploy/reconciler.js';
import type { EventBus } from './events/event-bus.js';
import { createGridSteps } from './grid/grid-wiring.js';
import { startEventHooks } from './hooks/event-hooks.js';
import { startApelWriter } from './accounting/start-apel-writer.js';
import type { VisibilityReports } from './gridway/visibility-reports.js';
import { AgentRegistry, type HostView } from './inventory/agent-registry.js';
import { REPUBLISH_MS } from './ha/host-publisher.js';
import { createBatchSystem } from './lrms/create-batch-system.js';
import type { CoordinatorMetrics } from './metrics/metrics.js';
import { DeployHolds } from './planner/deploy-holds.js';
import { ScalingLoop } from './planner/scaling-loop.js';
import { policyCatalog } from './policy/policy-catalog.js';
import type { PolicyWatcher } from './policy/policy-watcher.js';
import { NodePool } from './pool/node-pool.js';
import type { StateStore } from './store/state-store.js';
import { Prefetcher } from './transfers/prefetcher.js';
import { TransferScheduler } from './transfers/transfer-scheduler.js';

/** How long agents may take to find a new leader: a heartbeat to the old one times out (≤ 3 intervals, at least 2 s), then they register. */
const AGENT_FAILOVER_MS = 5000;

/** What leading needs from the process around it. */
export interface LeaderContext {
  config: CoordinatorConfig;
  logger: Logger;
  clock: Clock;
  events: EventBus;
  policy: PolicyWatcher;
  trust: SiteTrust;
  insecure: boolean;
  visibility: VisibilityReports;
  metrics: CoordinatorMetrics;
  authority: WriteAuthority;
  /** Grid-side steps (tests); by default built from the config. */
  grid?: GridSteps;
  /** Where the registry is published for standbys (HA leader only). */
  hostPublisher?: () => { changed(host: HostView): void; republish(hosts: Iterable<HostView>): void } | undefined;
}

/** The parts only the leader runs, and what the RPC edge reads from them. */
export interface SiteLeader {
  deps: Pick<CoordinatorServiceDeps, 'store' | 'pool' | 'registry' | 'queue' | 'depth' | 'targets' | 'deployHolds' | 'transfers'>;
  registry: AgentRegistry;
  transfers: TransferScheduler;
  queue: OperationQueue;
  /** Stops dispatching, aborts running attempts (their agents undo them; the next leader resumes), closes agent channels. */
  stop(): Promise<void>;
}

/**
 * Starts everything that acts on the site from `store`: the agent registry,
 * the deployment queue and runner, reconciliation of what a predecessor
 * (this process before a restart, or a deposed leader) left running, the
 * scaling loop and prefetch. A single coordinator runs it at start; an HA
 * coordinator when it is elected.
 */
export async function startLeading(ctx: LeaderContext, store: StateStore): Promise<SiteLeader> {
  const { config, logger, clock, events, policy, visibility, metrics } = ctx;
  const timers: Array<ReturnType<typeof setInterval>> = [];
  const pool = new NodePool(config.pool, store);
  // Every finished deployment, manual or automatic, feeds the per-VO holds that `vonode status` shows and the scaling loop obeys.
  const holds = new DeployHolds({ clock, logger: logger.child({ component: 'deploy-holds' }) });
  const onPolicyChange = (next: Parameters<DeployHolds['onPolicyChange']>[0], previous: Parameters<DeployHolds['onPolicyChange']>[1]): void => {
    holds.onPolicyChange(next, previous);
  };
  policy.on('change', onPolicyChange);
  const settings = {
    maxConcurrentTransfers: config.deploy.maxConcurrentTransfers, maxAttempts: config.deploy.maxAttempts,
    phaseTimeouts: config.deploy.phaseTimeouts, shutdownTimeoutMs: config.deploy.shutdownTimeout,
  };
  const batch = createBatchSystem(config.batchSystem, new ProcessRunner(), clock, logger.child({ component: config.batchSystem?.kind ?? 'lrms' }));
  const prepareQueues = (): Promise<void> => batch!.prepare!(policy.current.vos.map((v) => ({ vo: v.name, queue: v.queue })));
  const onPolicyPrepare = (): void => void prepareQueues().catch((e: unknown) => logger.error({ err: errorMessage(e) }, 'could not prepare the VO queues of the new policy'));
  if (batch?.prepare) {
    await prepareQueues();
    policy.on('change', onPolicyPrepare);
  }
  // Event hooks are the leader's (a standby republishes events and runs none): subscribed before anything of this term is published.
  const hooks = config.hooks && startEventHooks({ config: config.hooks, site: config.site, pool: config.pool, events, clock, logger });
  // APEL messages are the leader's too: one writer per site, going on from the period the store says was sent last.
  const apel = startApelWriter(config, store, clock, logger);
  const grid = ctx.grid ?? createGridSteps({ config, batch, policy, store, visibility, runner: new ProcessRunner(), clock, logger });
  // The registry's hooks need the queue and reconciler, which need the registry: filled in below.
  const late: { reconciler?: Reconciler; queue?: OperationQueue } = {};
  const registry = new AgentRegistry({
    downAfterMs: config.agents.downAfter, clock, logger: logger.child({ component: 'registry' }),
    hooks: {
      onRegistered: (host, domains) => {
        ctx.hostPublisher?.()?.changed(host);
        late.reconciler?.onRegistered(host, domains);
      },
      onStateChange: (host) => {
        ctx.hostPublisher?.()?.changed(host);
        events.publish({ event: { $case: 'host', value: hostToWire(host, 0, '') } });
        late.queue?.pump();
      },
    },
  });
  const t = config.transfers;
  const transfers = new TransferScheduler(
    { repositoryMbit: t.repositoryMbit, defaultHostMbit: t.defaultHostMbit, hostMbit: t.hosts, peerUploads: t.peerUploads, minRateMbit: t.minRateMbit },
    () => [...registry.values()].map((h) => ({ name: h.name, up: h.state === 'up', facts: h.facts })),
    () => clock.nowMs(),
  );
  const queue = (late.queue = new OperationQueue({
    canDispatch: () => ctx.authority.canAct?.() ?? true,
    store, pool, registry, catalog: policyCatalog(policy), events, clock, logger, settings, transfers,
    onDispatchPass: (ms) => metrics.onDispatchPass(ms),
  }));
  const clients = agentClients(ctx, registry);
  const runner = new OperationRunner({
    store, pool, queue, clients: clients.api, grid, events, clock, logger, settings,
    listener: {
      onPhase: (m) => metrics.onPhase(m),
      onFinished: (o, cause) => {
        metrics.onFinished(o);
        // Failed deployments hold back the scaling loop's next ones for their VO (no hot loop of failures).
        holds.onOperationFinished(o, cause);
      },
    },
  });
  queue.attach(runner);
  const reconciler = (late.reconciler = new Reconciler({ store, pool, queue, clock, logger: logger.child({ component: 'reconciler' }) }));
  reconciler.collectOrphans();
  let scaling: ScalingLoop | undefined;
  if (batch) {
    const q = queue;
    scaling = new ScalingLoop({
      policy: () => policy.current, batch, nodes: () => store.nodes(), capacity: () => pool.total, poolFree: () => pool.freeEntries().length,
      submitDeploy: (vo, count) => q.submitDeploy(vo, count, '', 'policy'),
      submitDrain: (hostname) => q.submitRemoval(hostname, 'drain', 'policy'),
      submitRemove: (hostname) => {
        logger.warn({ node: hostname }, 'node vanished from the batch system without being removed: removing it');
        q.submitRemoval(hostname, 'remove', 'policy');
      },
      clock, logger: logger.child({ component: 'scaling' }), deployHolds: holds,
    });
    scaling.start(config.batchSystem!.scalingInterval);
  }
  // Down detection: silence > downAfter is noticed within one sweep period more.
  timers.push(setInterval(() => registry.sweep(), Math.max(100, Math.floor(config.agents.downAfter / 5))));
  // Backstop for dispatch (new facts, slots freed by time); normal dispatch is event-driven.
  const q = queue;
  timers.push(setInterval(() => q.pump(), 1000));
  // Appliances warmed ahead of demand (policy prefetch), on links no deployment needs.
  const prefetcher = new Prefetcher({
    policy: () => policy.current,
    hosts: () => [...registry.values()].map((h) => ({ name: h.name, up: h.state === 'up', facts: h.facts })),
    nodeHosts: (vo) => store.nodes().filter((n) => n.vo === vo && n.host).map((n) => n.host),
    deploymentsNeedLinks: () => q.depth().queued > 0 || transfers.list().some((x) => x.purpose === 'deploy'),
    transfers, client: (host) => clients.api.get(host), clock, logger: logger.child({ component: 'prefetch' }),
  });
  timers.push(setInterval(() => prefetcher.pass(), 1000));
  if (ctx.hostPublisher) timers.push(setInterval(() => ctx.hostPublisher?.()?.republish(registry.values()), REPUBLISH_MS));
  // Agents re-register within one heartbeat of a restart (or of finding the new leader); an orphan whose agent did not is retried elsewhere.
  const r = reconciler;
  // After a failover the agents first wait out a call to the old leader (a heartbeat deadline) before they find this one.
  const grace = config.agents.downAfter * 2 + (config.store.etcd ? AGENT_FAILOVER_MS : 0);
  timers.push(setTimeout(() => r.expireOrphans(), grace) as unknown as ReturnType<typeof setInterval>);
  return {
    registry, transfers, queue,
    deps: {
      store, pool, registry, queue, depth: () => q.depth(), targets: () => scaling?.targets() ?? new Map(),
      deployHolds: () => holds.snapshot(), transfers: () => transfers.list(),
    },
    stop: async () => {
      // Synchronously first: no dispatch and no agent call of this term after stop() is called.
      q.stop();
      runner.abortAll();
      for (const timer of timers) clearInterval(timer);
      policy.off('change', onPolicyChange);
      policy.off('change', onPolicyPrepare);
      await scaling?.stop();
      await hooks?.stop();
      await apel?.shutdown();
      clients.close();
    },
  };
}

/** Clients of the agents; each checks that the server it reaches holds that host's agent certificate, and carries the leader's term. */
function agentClients(ctx: LeaderContext, registry: AgentRegistry): { api: AgentClients; close(): void } {
  const cache = new Map<string, { address: string; client: AgentClient }>();
  const shared = new SharedChannelCredentials(ctx.config.tls, ctx.insecure, 'vonode-coordinator → agents');
  const term = (): number => ctx.authority.term();
  return {
    api: {
      get: (host) => {
        // A deposed leader must not act: checked before every agent call (agents also refuse an older term).
        ctx.authority.assertLeader();
        const view = registry.get(host);
        if (!view) throw new NotFoundError(`host ${host} has no registered agent`);
        const cached = cache.get(host);
        // A channel that failed to connect (the agent was down) waits out grpc-js's reconnect backoff and fails
        // calls at once meanwhile; the agent is registered again, so a new channel connects now.
        const failed = cached?.client.raw.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE;
        if (cached && cached.address === view.address && !failed) return cached.client;
        cached?.client.close();
        const creds = shared.for({ role: 'agent', name: host, revocations: ctx.trust.revocations });
        const client = new AgentClient(view.address, creds, term);
        cache.set(host, { address: view.address, client });
        return client;
      },
    },
    close: () => {
      for (const { client } of cache.values()) client.close();
      cache.clear();
    },
  };
}
