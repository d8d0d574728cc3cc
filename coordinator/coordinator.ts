import { connectivityState } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../shared/clock.js';
import { CoordinatorServiceService } from '../shared/gen/vonode/v1/coordinator.js';
import type { Logger } from '../shared/logger.js';
import { AgentClient } from '../shared/rpc/agent-client.js';
import { resolveAccessTable } from '../shared/auth/access-control.js';
import { SiteTrust } from '../shared/auth/site-trust.js';
import { serverCredentials, SharedChannelCredentials } from '../shared/rpc/credentials.js';
import { COORDINATOR_ACCESS } from './api/access.js';
import { GrpcServer } from '../shared/rpc/grpc-server.js';
import { createCoordinatorService } from './api/coordinator-service.js';
import type { CoordinatorConfig } from './config.js';
import type { GridSteps } from './deploy/grid-steps.js';
import { createGridSteps } from './grid/grid-wiring.js';
import { VisibilityReports } from './gridway/visibility-reports.js';
import { createBatchSystem } from './lrms/create-batch-system.js';
import { DeployHolds } from './planner/deploy-holds.js';
import { ScalingLoop } from './planner/scaling-loop.js';
import { ProcessRunner } from '../shared/process/command-runner.js';
import { errorMessage, NotFoundError } from '../shared/errors.js';
import { Prefetcher } from './transfers/prefetcher.js';
import { TransferScheduler } from './transfers/transfer-scheduler.js';
import { OperationQueue } from './deploy/operation-queue.js';
import { OperationRunner, type AgentClients } from './deploy/operation-runner.js';
import { Reconciler } from './deploy/reconciler.js';
import { policyCatalog } from './policy/policy-catalog.js';
import { EventBus } from './events/event-bus.js';
import { AgentRegistry } from './inventory/agent-registry.js';
import { CoordinatorMetrics } from './metrics/metrics.js';
import { PolicyWatcher } from './policy/policy-watcher.js';
import { NodePool } from './pool/node-pool.js';
import { StateStore } from './store/state-store.js';
import { hostToWire } from './api/wire.js';
import { policyStatusToWire } from './api/policy-wire.js';

/** Lifecycle of the coordinator daemon. */
export type CoordinatorState = 'created' | 'starting' | 'serving' | 'stopping' | 'stopped';

/** Optional replacements (tests) and flags. */
export interface CoordinatorOptions {
  insecure: boolean;
  clock?: Clock;
  /** Grid-side steps (tests); by default built from the config. */
  grid?: GridSteps;
}

/**
 * The site daemon: wires the store, pool, policy, agent registry, deployment
 * queue, reconciliation, metrics and the gRPC API together.
 */
export class Coordinator {
  state: CoordinatorState = 'created';
  port = 0;
  metricsPort = 0;
  readonly events = new EventBus();
  store: StateStore | undefined;
  registry: AgentRegistry | undefined;
  /** Bandwidth-aware admission of image downloads (status shows its transfers). */
  transfers: TransferScheduler | undefined;
  queue: OperationQueue | undefined;
  policy: PolicyWatcher | undefined;
  private server: GrpcServer | undefined;
  private trust: SiteTrust | undefined;
  private metrics: CoordinatorMetrics | undefined;
  private runner: OperationRunner | undefined;
  private reconciler: Reconciler | undefined;
  private scaling: ScalingLoop | undefined;
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private readonly clients = new Map<string, { address: string; client: AgentClient }>();

  constructor(
    private readonly config: CoordinatorConfig,
    private readonly logger: Logger,
    private readonly options: CoordinatorOptions = { insecure: false },
  ) {}

  /** Opens state, loads the policy, recovers, then serves. Throws if any part cannot start. */
  async start(): Promise<void> {
    this.state = 'starting';
    const { config, logger, events } = this;
    const clock = this.options.clock ?? systemClock;
    const creds = serverCredentials(config.tls, this.options.insecure, 'vonode-coordinator');
    const trust = (this.trust = await SiteTrust.open({
      tls: config.tls, source: 'vonode-coordinator configuration', own: { role: 'coordinator' },
      access: resolveAccessTable(CoordinatorServiceService, COORDINATOR_ACCESS), logger,
    }));
    // The policy before the state database: a start refused for its policy leaves no database behind.
    const policy = (this.policy = new PolicyWatcher(config.policyFile, logger.child({ component: 'policy' }), { capacity: config.pool.length }));
    await policy.start();
    const store = (this.store = new StateStore(config.stateDb));
    const pool = new NodePool(config.pool, store);
    policy.on('rejected', () => events.publish({ event: { $case: 'policy', value: policyStatusToWire(policy) } }));
    policy.on('change', () => events.publish({ event: { $case: 'policy', value: policyStatusToWire(policy) } }));
    // Every finished deployment, manual or automatic, feeds the per-VO holds that `vonode status` shows and the scaling loop obeys.
    const holds = new DeployHolds({ clock, logger: logger.child({ component: 'deploy-holds' }) });
    policy.on('change', (next, previous) => holds.onPolicyChange(next, previous));
    const settings = {
      maxConcurrentTransfers: config.deploy.maxConcurrentTransfers, maxAttempts: config.deploy.maxAttempts,
      phaseTimeouts: config.deploy.phaseTimeouts, shutdownTimeoutMs: config.deploy.shutdownTimeout,
    };
    const visibility = new VisibilityReports(clock);
    const batch = createBatchSystem(config.batchSystem, new ProcessRunner(), clock, logger.child({ component: config.batchSystem?.kind ?? 'lrms' }));
    if (batch?.prepare) {
      const prepare = (): Promise<void> => batch.prepare!(policy.current.vos.map((v) => ({ vo: v.name, queue: v.queue })));
      await prepare();
      policy.on('change', () => void prepare().catch((e: unknown) => logger.error({ err: errorMessage(e) }, 'could not prepare the VO queues of the new policy')));
    }
    const grid = this.options.grid ?? createGridSteps({ config, batch, policy, store, visibility, runner: new ProcessRunner(), clock, logger });
    const registry = (this.registry = new AgentRegistry({
      downAfterMs: config.agents.downAfter, clock, logger: logger.child({ component: 'registry' }),
      hooks: {
        onRegistered: (host, domains) => this.reconciler?.onRegistered(host, domains),
        onStateChange: (host) => {
          events.publish({ event: { $case: 'host', value: hostToWire(host, 0, '') } });
          this.queue?.pump();
        },
      },
    }));
    const t = config.transfers;
    const transfers = (this.transfers = new TransferScheduler(
      { repositoryMbit: t.repositoryMbit, defaultHostMbit: t.defaultHostMbit, hostMbit: t.hosts, peerUploads: t.peerUploads, minRateMbit: t.minRateMbit },
      () => [...registry.values()].map((h) => ({ name: h.name, up: h.state === 'up', facts: h.facts })),
      () => clock.nowMs(),
    ));
    const queue = (this.queue = new OperationQueue({
      store, pool, registry, catalog: policyCatalog(policy), events, clock, logger, settings, transfers,
      onDispatchPass: (ms) => this.metrics?.onDispatchPass(ms),
    }));
    const metrics = (this.metrics = new CoordinatorMetrics({
      queueDepth: () => queue.depth(), agentsUp: () => registry.counts().up, agentsDown: () => registry.counts().down,
      nodesByState: () => countBy(store.nodes().map((n) => n.state)),
    }));
    const clients = this.agentClients(trust);
    const runner = (this.runner = new OperationRunner({
      store, pool, queue, clients, grid, events, clock, logger, settings,
      listener: {
        onPhase: (m) => metrics.onPhase(m),
        onFinished: (o, cause) => {
          metrics.onFinished(o);
          // Failed deployments hold back the scaling loop's next ones for their VO (no hot loop of failures).
          holds.onOperationFinished(o, cause);
        },
      },
    }));
    queue.attach(runner);
    const reconciler = (this.reconciler = new Reconciler({ store, pool, queue, clock, logger: logger.child({ component: 'reconciler' }) }));
    reconciler.collectOrphans();
    if (batch) {
      const scaling = (this.scaling = new ScalingLoop({
        policy: () => policy.current, batch, nodes: () => store.nodes(), capacity: () => pool.total, poolFree: () => pool.freeEntries().length,
        submitDeploy: (vo, count) => queue.submitDeploy(vo, count, '', 'policy'),
        submitDrain: (hostname) => queue.submitRemoval(hostname, 'drain', 'policy'),
        submitRemove: (hostname) => {
          logger.warn({ node: hostname }, 'node vanished from the batch system without being removed: removing it');
          queue.submitRemoval(hostname, 'remove', 'policy');
        },
        clock, logger: logger.child({ component: 'scaling' }), deployHolds: holds,
      }));
      scaling.start(config.batchSystem!.scalingInterval);
    }
    this.server = new GrpcServer(
      ['vonode/v1/coordinator.proto'],
      [{ name: 'vonode.v1.CoordinatorService', definition: CoordinatorServiceService, impl: createCoordinatorService({
        site: config.site, startedUnixMs: clock.nowMs(), store, pool, registry, policy, queue, events, logger, visibility,
        heartbeatIntervalMs: config.agents.heartbeatInterval, depth: () => queue.depth(), targets: () => this.scaling?.targets() ?? new Map(),
        deployHolds: () => holds.snapshot(),
        transfers: () => transfers.list(),
      }) }],
      { interceptors: trust.interceptors },
    );
    this.port = await this.server.listen(config.listen, creds);
    if (config.metrics) this.metricsPort = await metrics.listen(config.metrics.listen);
    // Down detection: silence > downAfter is noticed within one sweep period more.
    this.timers.push(setInterval(() => registry.sweep(), Math.max(100, Math.floor(config.agents.downAfter / 5))));
    // Backstop for dispatch (new facts, slots freed by time); normal dispatch is event-driven.
    this.timers.push(setInterval(() => queue.pump(), 1000));
    // Appliances warmed ahead of demand (policy prefetch), on links no deployment needs.
    const prefetcher = new Prefetcher({
      policy: () => policy.current,
      hosts: () => [...registry.values()].map((h) => ({ name: h.name, up: h.state === 'up', facts: h.facts })),
      nodeHosts: (vo) => store.nodes().filter((n) => n.vo === vo && n.host).map((n) => n.host),
      deploymentsNeedLinks: () => queue.depth().queued > 0 || transfers.list().some((x) => x.purpose === 'deploy'),
      transfers, client: (host) => clients.get(host), clock, logger: logger.child({ component: 'prefetch' }),
    });
    this.timers.push(setInterval(() => prefetcher.pass(), 1000));
    // Agents re-register within one heartbeat of a restart; an orphan whose agent did not is retried elsewhere.
    const grace = setTimeout(() => reconciler.expireOrphans(), config.agents.downAfter * 2);
    this.timers.push(grace as unknown as ReturnType<typeof setInterval>);
    this.state = 'serving';
    logger.info({ listen: config.listen, port: this.port, metricsPort: this.metricsPort, pool: pool.total }, 'coordinator serving');
  }

  /** Stops serving and dispatching; running attempts are aborted (their agents undo them) and resumed by the next start. */
  async shutdown(graceMs = 5000): Promise<void> {
    this.state = 'stopping';
    for (const t of this.timers) clearInterval(t);
    await this.scaling?.stop();
    this.queue?.stop();
    this.runner?.abortAll();
    await this.server?.shutdown(graceMs);
    await this.metrics?.close();
    await this.policy?.shutdown();
    await this.trust?.close();
    for (const { client } of this.clients.values()) client.close();
    this.store?.close();
    this.state = 'stopped';
  }

  /** Clients of the agents; each checks that the server it reaches holds that host's agent certificate. */
  private agentClients(trust: SiteTrust): AgentClients {
    const shared = new SharedChannelCredentials(this.config.tls, this.options.insecure, 'vonode-coordinator → agents');
    return {
      get: (host) => {
        const view = this.registry?.get(host);
        if (!view) throw new NotFoundError(`host ${host} has no registered agent`);
        const cached = this.clients.get(host);
        // A channel that failed to connect (the agent was down) waits out grpc-js's reconnect backoff and fails
        // calls at once meanwhile; the agent is registered again, so a new channel connects now.
        const failed = cached?.client.raw.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE;
        if (cached && cached.address === view.address && !failed) return cached.client;
        cached?.client.close();
        const creds = shared.for({ role: 'agent', name: host, revocations: trust.revocations });
        const client = new AgentClient(view.address, creds);
        this.clients.set(host, { address: view.address, client });
        return client;
      },
    };
  }
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
