import { systemClock, type Clock } from '../shared/clock.js';
import { CoordinatorServiceService } from '../shared/gen/vonode/v1/coordinator.js';
import type { Logger } from '../shared/logger.js';
import { resolveAccessTable } from '../shared/auth/access-control.js';
import { SiteTrust } from '../shared/auth/site-trust.js';
import { serverCredentials } from '../shared/rpc/credentials.js';
import { errorMessage } from '../shared/errors.js';
import { COORDINATOR_ACCESS } from './api/access.js';
import { GrpcServer } from '../shared/rpc/grpc-server.js';
import { createCoordinatorService, type CoordinatorServiceDeps, type WriteAuthority } from './api/coordinator-service.js';
import type { CoordinatorConfig } from './config.js';
import type { GridSteps } from './deploy/grid-steps.js';
import { VisibilityReports } from './gridway/visibility-reports.js';
import { EventBus } from './events/event-bus.js';
import { AgentRegistry } from './inventory/agent-registry.js';
import { CoordinatorMetrics } from './metrics/metrics.js';
import { PolicyWatcher } from './policy/policy-watcher.js';
import { NodePool } from './pool/node-pool.js';
import type { StateStore } from './store/state-store.js';
import { openSqliteStore } from './store/sqlite/sqlite-backend.js';
import type { TransferScheduler } from './transfers/transfer-scheduler.js';
import type { OperationQueue } from './deploy/operation-queue.js';
import { policyStatusToWire } from './api/policy-wire.js';
import { startLeading, type SiteLeader } from './site-leader.js';
import { HaMembership } from './ha/ha-membership.js';
import { ConsoleServer } from './console/console-server.js';

/** Lifecycle of the coordinator daemon. */
export type CoordinatorState = 'created' | 'starting' | 'serving' | 'stopping' | 'stopped';

/** Exit code of a coordinator that lost the leadership: its service manager starts it again, as a standby. */
export const EXIT_LEADERSHIP_LOST = 75;

/** Optional replacements (tests) and flags. */
export interface CoordinatorOptions {
  insecure: boolean;
  clock?: Clock;
  /** Grid-side steps (tests); by default built from the config. */
  grid?: GridSteps;
}

/**
 * The site daemon. With SQLite (the default) it leads from the start; with
 * `store.etcd` it serves reads as a standby from a watched copy of the
 * state, campaigns for the leadership, and when elected starts the leader's
 * parts on the state read from etcd at that moment (site-leader.ts). A
 * leader that loses its lease stops acting at once and exits (code 75) so
 * its service manager starts it again as a standby: a clean process is the
 * surest way to hold nothing of the old term.
 */
export class Coordinator {
  state: CoordinatorState = 'created';
  port = 0;
  metricsPort = 0;
  /** Port of the web console (0: off). */
  consolePort = 0;
  readonly events = new EventBus();
  /** Resolves with an exit code when the daemon must end on its own (leadership lost). */
  readonly exited: Promise<number>;
  private exit!: (code: number) => void;
  private deps: CoordinatorServiceDeps | undefined;
  private leader: SiteLeader | undefined;
  private ha: HaMembership | undefined;
  private server: GrpcServer | undefined;
  private trust: SiteTrust | undefined;
  private metrics: CoordinatorMetrics | undefined;
  private console: ConsoleServer | undefined;
  private sqlite: StateStore | undefined;

  constructor(
    private readonly config: CoordinatorConfig,
    private readonly logger: Logger,
    private readonly options: CoordinatorOptions = { insecure: false },
  ) {
    this.exited = new Promise((resolve) => (this.exit = resolve));
  }

  /** The state store serving now (the leader's, or a standby's watched copy). */
  get store(): StateStore | undefined {
    return this.deps?.store;
  }

  /** The agent registry (empty on a standby). */
  get registry(): AgentRegistry | undefined {
    return this.deps?.registry;
  }

  /** Bandwidth-aware admission of image downloads (leader only). */
  get transfers(): TransferScheduler | undefined {
    return this.leader?.transfers;
  }

  /** The deployment queue (leader only). */
  get queue(): OperationQueue | undefined {
    return this.leader?.queue;
  }

  /** The policy watcher. */
  get policy(): PolicyWatcher | undefined {
    return this.deps?.policy;
  }

  /** 'single' (SQLite), 'leader' or 'standby'. */
  get role(): 'single' | 'leader' | 'standby' {
    if (!this.ha) return 'single';
    return this.ha.leading ? 'leader' : 'standby';
  }

  /** Opens state, loads the policy, then serves: as the leader (SQLite) or as a standby campaigning (etcd). Throws if any part cannot start. */
  async start(): Promise<void> {
    this.state = 'starting';
    const { config, logger, events } = this;
    const clock = this.options.clock ?? systemClock;
    const creds = serverCredentials(config.tls, this.options.insecure, 'vonode-coordinator');
    const trust = (this.trust = await SiteTrust.open({
      tls: config.tls, source: 'vonode-coordinator configuration', own: { role: 'coordinator' },
      access: resolveAccessTable(CoordinatorServiceService, COORDINATOR_ACCESS), logger,
    }));
    // The policy before the state: a start refused for its policy leaves no database behind.
    const policy = new PolicyWatcher(config.policyFile, logger.child({ component: 'policy' }), { capacity: config.pool.length });
    await policy.start();
    policy.on('rejected', () => events.publish({ event: { $case: 'policy', value: policyStatusToWire(policy) } }));
    policy.on('change', () => events.publish({ event: { $case: 'policy', value: policyStatusToWire(policy) } }));
    const visibility = new VisibilityReports(clock);
    const metrics = (this.metrics = new CoordinatorMetrics({
      queueDepth: () => this.deps?.depth() ?? { queued: 0, running: 0 },
      agentsUp: () => this.deps?.registry.counts().up ?? 0, agentsDown: () => this.deps?.registry.counts().down ?? 0,
      nodesByState: () => countBy(this.deps?.store.nodes().map((n) => n.state) ?? []),
      deployHolds: () => this.deps?.deployHolds() ?? new Map(), nowMs: () => clock.nowMs(),
    }));
    const etcd = config.store.etcd;
    const authority: WriteAuthority = etcd
      ? { assertLeader: () => this.ha!.assertLeader(), term: () => this.ha!.term, canAct: () => this.ha!.canAct(), ready: () => this.ha!.ready() }
      : { assertLeader: () => undefined, term: () => 0 };
    const leaderContext = {
      config, logger, clock, events, policy, trust, insecure: this.options.insecure, visibility, metrics, authority, grid: this.options.grid,
      hostPublisher: etcd ? () => this.ha?.hosts : undefined,
    };
    const base = {
      site: config.site, startedUnixMs: clock.nowMs(), policy, events, logger, visibility, authority,
      heartbeatIntervalMs: config.agents.heartbeatInterval,
    };
    if (!etcd) {
      const store = (this.sqlite = openSqliteStore(config.stateDb));
      this.leader = await startLeading(leaderContext, store);
      this.deps = { ...base, ...this.leader.deps };
    } else {
      this.ha = new HaMembership({ config: etcd, advertise: config.advertise!, policy, events, clock, logger: logger.child({ component: 'ha' }) });
      const registry = new AgentRegistry({ downAfterMs: config.agents.downAfter, clock, logger: logger.child({ component: 'registry' }) });
      const view = await this.ha.openStandbyView(registry);
      this.deps = { ...base, ...standbyDeps(view, registry, config), cluster: () => this.ha!.clusterView() };
    }
    this.server = new GrpcServer(
      ['vonode/v1/coordinator.proto'],
      [{ name: 'vonode.v1.CoordinatorService', definition: CoordinatorServiceService, impl: createCoordinatorService(this.deps) }],
      { interceptors: trust.interceptors },
    );
    this.port = await this.server.listen(config.listen, creds);
    if (config.metrics) this.metricsPort = await metrics.listen(config.metrics.listen);
    if (config.console) this.consolePort = await this.startConsole(config.console, clock);
    this.state = 'serving';
    logger.info({ listen: config.listen, port: this.port, metricsPort: this.metricsPort, consolePort: this.consolePort, pool: config.pool.length, store: etcd ? 'etcd' : 'sqlite' }, 'coordinator serving');
    if (this.ha) this.campaign(leaderContext);
  }

  /** The web console: a standby serves it too, from the state it watches. */
  private async startConsole(c: NonNullable<CoordinatorConfig['console']>, clock: Clock): Promise<number> {
    this.console = new ConsoleServer({
      listen: c.listen, tls: this.config.tls, tokensFile: c.tokensFile, assetsDir: c.assetsDir, revocations: this.trust?.revocations,
      events: this.events, clock, logger: this.logger.child({ component: 'console' }),
      api: { views: () => this.deps, role: () => this.role, nowMs: () => clock.nowMs() },
    });
    return this.console.listen();
  }

  /** Campaigns in the background; elected, leads from the state etcd holds at that moment. */
  private campaign(ctx: Parameters<typeof startLeading>[0]): void {
    const ha = this.ha!;
    ha.onLost((reason) => void this.leadershipLost(reason));
    void ha
      .campaign(async (store) => {
        const leader = (this.leader = await startLeading(ctx, store));
        // The RPC edge reads its parts through this object: from now on it answers as the leader.
        Object.assign(this.deps!, leader.deps);
      })
      .catch((e: unknown) => {
        if (this.state === 'stopping' || this.state === 'stopped') return;
        void this.leadershipLost(`campaign failed: ${errorMessage(e)}`);
      });
  }

  private async leadershipLost(reason: string): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.logger.fatal({ reason, term: this.ha?.term ?? 0 }, 'leadership lost or unobtainable: stopping every action and exiting so the service manager starts this coordinator again as a standby');
    // Nothing of this term may act any more: stop dispatching and abort agent calls before anything else.
    await this.leader?.stop().catch(() => undefined);
    this.exit(EXIT_LEADERSHIP_LOST);
  }

  /** Stops serving and dispatching; running attempts are aborted (their agents undo them) and resumed by the next leader or start. */
  async shutdown(graceMs = 5000): Promise<void> {
    this.state = 'stopping';
    await this.leader?.stop();
    await this.console?.close();
    await this.server?.shutdown(graceMs);
    await this.metrics?.close();
    await this.deps?.policy.shutdown();
    await this.trust?.close();
    await this.sqlite?.close();
    await this.ha?.close();
    this.state = 'stopped';
  }
}

/** What a standby's RPC edge reads: the watched state, the hosts the leader publishes, nothing queued here. */
function standbyDeps(store: StateStore, registry: AgentRegistry, config: CoordinatorConfig): Pick<CoordinatorServiceDeps, 'store' | 'pool' | 'registry' | 'queue' | 'depth' | 'targets' | 'deployHolds' | 'transfers'> {
  return {
    store, pool: new NodePool(config.pool, store), queue: undefined, registry,
    depth: () => ({ queued: store.countOpen('queued'), running: store.countOpen('running') }),
    targets: () => new Map(), deployHolds: () => new Map(), transfers: () => [],
  };
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
