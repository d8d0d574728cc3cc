import os from 'node:os';
import path from 'node:path';
import { AgentServiceService } from '../shared/gen/vonode/v1/agent.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { ProcessRunner, type CommandRunner } from '../shared/process/command-runner.js';
import type { CoordinatorApi } from '../shared/rpc/coordinator-client.js';
import { FollowingCoordinatorClient } from '../shared/rpc/following-coordinator-client.js';
import { resolveAccessTable } from '../shared/auth/access-control.js';
import { SiteTrust } from '../shared/auth/site-trust.js';
import { channelCredentials, serverCredentials } from '../shared/rpc/credentials.js';
import { GrpcServer } from '../shared/rpc/grpc-server.js';
import { coordinatorAddresses, type AgentConfig } from './config.js';
import { COORDINATOR_CHANNEL_OPTIONS, CoordinatorLink } from './coordinator-link/coordinator-link.js';
import { Deployer } from './deploy/deployer.js';
import { CachedImageStore } from './deploy/image-store.js';
import { recover, type RecoveryReport } from './deploy/recovery.js';
import { Remover } from './deploy/remover.js';
import { createDhcpBackend } from './dhcp/create-dhcp-backend.js';
import type { DhcpBackend } from './dhcp/dhcp-backend.js';
import { SystemHostFacts, type HostFactsSource } from './host/host-facts.js';
import { createDriver } from './hypervisor/create-driver.js';
import type { HypervisorDriver } from './hypervisor/hypervisor-driver.js';
import { defaultLinkMbit } from './host/link-speed.js';
import { ImageCache } from './images/image-cache.js';
import { PeerEndpoint } from './images/peer/peer-endpoint.js';
import { ImageSourcePolicy } from './images/source-policy.js';
import { AGENT_ACCESS } from './service/access.js';
import { createAgentService } from './service/agent-service.js';
import { readDomains, readHostFacts } from './service/host-report.js';
import { CoordinatorTermFence } from './state/coordinator-term.js';
import { DomainStore } from './state/domain-store.js';
import { openTemplates } from './templates/open-templates.js';
import type { TemplateManager } from './templates/template-manager.js';

/** Lifecycle of the agent daemon. */
export type AgentState = 'created' | 'starting' | 'serving' | 'stopping' | 'stopped';

/** Optional replacements for the real parts (tests). */
export interface AgentOverrides {
  clock?: Clock;
  runner?: CommandRunner;
  facts?: HostFactsSource;
  driver?: HypervisorDriver;
  /** Client of the coordinator (default: one following the leader among config.coordinator's addresses). */
  coordinator?: Pick<CoordinatorApi, 'registerAgent' | 'heartbeat' | 'close'>;
}

/** The version reported in HostFacts. */
export const AGENT_VERSION = '0.1.0';

/**
 * The per-host daemon: wires config to the image cache, DHCP backend,
 * hypervisor driver, deployer and gRPC server; recovers state at start.
 */
export class Agent {
  state: AgentState = 'created';
  port = 0;
  recovery: RecoveryReport | undefined;
  private server: GrpcServer | undefined;
  private trust: SiteTrust | undefined;
  private dhcp: DhcpBackend | undefined;
  private driver: HypervisorDriver | undefined;
  private templates: TemplateManager | undefined;
  private peer: PeerEndpoint | undefined;
  /** The registration/heartbeat link, when config.coordinator is set. */
  link: CoordinatorLink | undefined;
  private coordinator: Pick<CoordinatorApi, 'close'> | undefined;
  /** The newest coordinator term seen; refuses a deposed leader's Deploy and Remove. */
  fence: CoordinatorTermFence | undefined;

  constructor(
    private readonly config: AgentConfig,
    private readonly logger: Logger,
    private readonly options: { insecure: boolean } & AgentOverrides = { insecure: false },
  ) {}

  /**
   * Recovers state, serves gRPC, then (with config.coordinator) starts
   * registering with the coordinator in the background. Throws if any part
   * cannot start (nothing is left listening).
   */
  async start(): Promise<void> {
    this.state = 'starting';
    const { config, logger } = this;
    // Before anything touches domains or files: a missing TLS setup must not cost a recovery pass.
    const creds = serverCredentials(config.tls, this.options.insecure, 'vonode-agent');
    const hostName = config.hostName ?? os.hostname();
    // A registering agent's certificate must name its host: the coordinator accepts it only as that host.
    const trust = (this.trust = await SiteTrust.open({
      tls: config.tls, source: 'vonode-agent configuration', own: { role: 'agent', ...(config.coordinator ? { name: hostName } : {}) },
      access: resolveAccessTable(AgentServiceService, AGENT_ACCESS), logger,
    }));
    // The agent's certificate is also its client certificate towards the coordinator, which must hold the coordinator role.
    const coordinatorCreds = config.coordinator && !this.options.coordinator
      ? channelCredentials(config.tls, this.options.insecure, 'vonode-agent → coordinator', { role: 'coordinator', revocations: trust.revocations })
      : undefined;
    const clock = this.options.clock ?? systemClock;
    const runner = this.options.runner ?? new ProcessRunner();
    const facts = this.options.facts ?? new SystemHostFacts(hostName);
    const store = new DomainStore(config.stateDir);
    await store.open();
    const fence = (this.fence = await CoordinatorTermFence.open(config.stateDir));
    const peerConfig = config.images.peer;
    const peer = (this.peer = peerConfig && config.tls ? await PeerEndpoint.open({ ...peerConfig, tls: config.tls }, trust.revocations) : undefined);
    const cache = new ImageCache({
      dir: config.images.dir ?? path.join(config.stateDir, 'images'),
      budgetBytes: config.images.budget,
      policy: new ImageSourcePolicy(config.images.sources),
      partialTtlMs: config.images.partialTtl,
      logger: logger.child({ component: 'image-cache' }),
      clock,
      runner,
      pieces: { pieceBytes: config.images.pieceSize },
      ...(peer ? { peers: peer.connections } : {}),
    });
    await cache.open();
    await peer?.serve(cache.asServedImages(), logger.child({ component: 'peer-server' }));
    const linkMbit = peerConfig?.linkMbit ?? (await defaultLinkMbit());
    const images = new CachedImageStore(cache, runner);
    const dhcp = createDhcpBackend(config.dhcp, runner);
    this.dhcp = dhcp;
    await dhcp.open();
    const driver = this.options.driver ?? createDriver(config.hypervisor, path.join(config.stateDir, 'run'), runner, {
      logger: logger.child({ component: 'hypervisor' }),
      ...(config.dhcp.dnsmasq ? { dhcpLeaseFile: config.dhcp.dnsmasq.leaseFile } : {}),
    });
    this.driver = driver;
    const deps = { driver, dhcp, images, store, logger };
    // The template manager builds when the deployer is idle; the deployer restores the manager's templates.
    const late: { deployer?: Deployer } = {};
    const templates = (this.templates = await openTemplates(config, driver, images, () => late.deployer?.idleForMs() ?? 0, clock, logger));
    const deployer = (late.deployer = new Deployer({
      ...deps,
      facts,
      clock,
      settings: { stateDir: config.stateDir, vmrTimeoutMs: config.deploy.vmrTimeout, memoryReserveBytes: config.deploy.memoryReserve },
      ...(templates ? { templates } : {}),
    }));
    this.recovery = await recover(deps, deployer.instancesDir);
    const remover = new Remover({ ...deps, clock }, config.deploy.shutdownTimeout);
    const report = { facts, store, driver, cache, stateDir: config.stateDir, version: AGENT_VERSION, linkMbit, ...(peer ? { peer } : {}) };
    const service = createAgentService({ ...report, deployer, remover, fence, clock, logger, budgetBytes: config.images.budget });
    this.server = new GrpcServer(['vonode/v1/agent.proto'], [{ name: 'vonode.v1.AgentService', definition: AgentServiceService, impl: service }], { interceptors: trust.interceptors });
    this.port = await this.server.listen(config.listen, creds);
    this.state = 'serving';
    logger.info({ listen: config.listen, port: this.port, driver: driver.kind, dhcp: dhcp.kind }, 'agent serving');
    if (config.coordinator) {
      const addresses = coordinatorAddresses(config.coordinator);
      const linkLogger = logger.child({ component: 'coordinator-link', coordinator: addresses.join(',') });
      const client = this.options.coordinator ?? new FollowingCoordinatorClient(addresses, coordinatorCreds!, {
        channelOptions: COORDINATOR_CHANNEL_OPTIONS,
        clock,
        onMove: (m) => {
          const fields = { method: m.method, from: m.from, reason: m.reason };
          // A named leader is news worth a line; moving past a dead or leaderless coordinator repeats during an outage.
          if (m.named) linkLogger.info(fields, `following the coordinator leader at ${m.to}`);
          else linkLogger.debug(fields, `trying the coordinator at ${m.to}`);
        },
      });
      this.coordinator = client;
      this.link = new CoordinatorLink({
        client, hostName, advertiseAddress: config.coordinator.advertise, clock,
        facts: () => readHostFacts(report),
        domains: () => readDomains(report),
        onCoordinatorTerm: (term) => fence.observe(term),
        logger: linkLogger,
      });
      this.link.start();
    }
  }

  /** Stops heartbeating and serving (running domains keep running) and releases watchers and connections. */
  async shutdown(graceMs = 5000): Promise<void> {
    this.state = 'stopping';
    await this.link?.shutdown();
    this.coordinator?.close();
    await this.server?.shutdown(graceMs);
    await this.templates?.close();
    await this.peer?.close();
    await this.dhcp?.close();
    await this.driver?.close();
    await this.trust?.close();
    this.state = 'stopped';
  }
}
