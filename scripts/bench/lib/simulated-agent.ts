// One SIMULATED agent of the coordinator scale benchmark. It is not the real
// vonode-agent: no hypervisor, no DHCP server, no image files. It answers
// vonode.v1.AgentService from memory, minimally but honestly (the phases the
// real agent reports, in its order, with short realistic delays; the real
// agent's per-host queue for PT..VMB; ALREADY_EXISTS, NOT_FOUND and memory
// admission like the real one), and registers and heartbeats through the
// REAL CoordinatorLink, so the coordinator sees exactly what it would see of
// a real agent on the wire.
import { Server, status, type sendUnaryData, type ServerCredentials, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { CoordinatorLink, type CoordinatorLinkState } from '../../../agent/coordinator-link/coordinator-link.js';
import { domainNameFor } from '../../../agent/hypervisor/hypervisor-driver.js';
import { systemClock } from '../../../shared/clock.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from '../../../shared/errors.js';
import {
  AgentServiceService,
  type AgentServiceServer,
  type DeployEvent,
  type DeployRequest,
  type HostFactsResponse,
  type RemoveRequest,
} from '../../../shared/gen/vonode/v1/agent.js';
import { DomainState, type Domain } from '../../../shared/gen/vonode/v1/common.js';
import type { Logger } from '../../../shared/logger.js';
import type { PhaseName } from '../../../shared/phases.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { phaseMarkToWire } from '../../../shared/rpc/phase-codec.js';
import { toServiceError } from '../../../shared/rpc/server-errors.js';
import { validateHostname } from '../../../shared/validation.js';

const GiB = 1024 ** 3;
/** The fixed facts every simulated host reports: 16 CPUs, 64 GiB, 1 TiB of disk. */
export const SIMULATED_HOST = { cpus: 16, memoryTotalBytes: 64 * GiB, reserveBytes: 2 * GiB, diskTotalBytes: 1024 * GiB } as const;

/** Delay ranges (ms) of the simulated phases: a whole deployment takes about 10-45 ms. */
const DELAYS: Record<'CR' | 'PT_COLD' | 'PT_WARM' | 'DA' | 'VMB' | 'VMR' | 'VMD' | 'DHR' | 'DKR', [number, number]> = {
  CR: [0, 1], PT_COLD: [10, 20], PT_WARM: [0.5, 1], DA: [1, 3], VMB: [3, 8], VMR: [5, 15], VMD: [3, 8], DHR: [1, 2], DKR: [1, 3],
};

/** Physical host name of simulated agent number `i` (1-based). */
export function simulatedHostName(i: number): string {
  return `simulated-${String(i).padStart(4, '0')}`;
}

/** Everything one simulated agent needs. */
export interface SimulatedAgentOptions {
  /** Physical host name it registers as (unique per site). */
  name: string;
  client: Pick<CoordinatorClient, 'registerAgent' | 'heartbeat'>;
  serverCredentials: ServerCredentials;
  logger: Logger;
  /** Domains it "still runs" from a previous life of its process (see the fleet's state file). */
  domains?: Domain[];
  /** Images already in its (simulated) cache. */
  cachedImages?: string[];
  /** Told after every change of its domains or cache (the fleet persists them). */
  onChange?(): void;
}

/** What a simulated agent persists across a restart of its fleet process. */
export interface SimulatedAgentState {
  domains: Domain[];
  cachedImages: string[];
}

/** A SIMULATED agent: in-memory AgentService on 127.0.0.1:0 plus the real CoordinatorLink. */
export class SimulatedAgent {
  port = 0;
  private readonly server = new Server();
  private readonly domains = new Map<string, Domain>();
  private readonly deploying = new Set<string>();
  private readonly cached: Set<string>;
  private link: CoordinatorLink | undefined;
  // The real agent runs PT, DA and VMB of one deployment at a time per host.
  private hostQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SimulatedAgentOptions) {
    for (const d of options.domains ?? []) if (d.spec) this.domains.set(d.spec.hostname, d);
    this.cached = new Set(options.cachedImages ?? []);
    this.server.addService(AgentServiceService, this.service());
  }

  /** Binds its AgentService on 127.0.0.1:0, then starts registering; resolves with the port. Throws if it cannot bind. */
  async start(): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', this.options.serverCredentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    const { client, name, logger } = this.options;
    this.link = new CoordinatorLink({
      client, hostName: name, advertiseAddress: `127.0.0.1:${this.port}`,
      facts: () => Promise.resolve(this.facts()), domains: () => Promise.resolve([...this.domains.values()]),
      logger: logger.child({ simulatedAgent: name }),
    });
    this.link.start();
    return this.port;
  }

  /** The physical host name it registers as. */
  get name(): string {
    return this.options.name;
  }

  /** Where the link is (registering, registered, ...). */
  get linkState(): CoordinatorLinkState {
    return this.link?.state ?? 'created';
  }

  /** Persistable state: domains and cached images. */
  snapshot(): SimulatedAgentState {
    return { domains: [...this.domains.values()], cachedImages: [...this.cached] };
  }

  /** Stops heartbeating and serving at once. */
  async stop(): Promise<void> {
    await this.link?.shutdown();
    this.server.forceShutdown();
  }

  /** Fixed host facts, less the memory of its domains; the image is cached after the first deployment. */
  facts(): HostFactsResponse {
    const committed = [...this.domains.values()].reduce((s, d) => s + (d.spec?.memoryMb ?? 0) * 1024 ** 2, 0);
    return {
      hostname: this.options.name, cpus: SIMULATED_HOST.cpus, memoryTotalBytes: SIMULATED_HOST.memoryTotalBytes,
      memoryAvailableBytes: SIMULATED_HOST.memoryTotalBytes - SIMULATED_HOST.reserveBytes - committed, memoryCommittedBytes: committed,
      diskTotalBytes: SIMULATED_HOST.diskTotalBytes, diskFreeBytes: SIMULATED_HOST.diskTotalBytes - this.domains.size * 2 * GiB,
      hypervisor: 'simulated', cachedImages: [...this.cached], runningDomains: this.domains.size, agentVersion: 'simulated-bench', peerUrl: '', holdings: [], uploadPeers: 0, linkMbit: 0,
    };
  }

  private service(): AgentServiceServer {
    const logger = this.options.logger;
    const unary = <Res>(method: string, fn: () => Res) => (_call: ServerUnaryCall<unknown, Res>, cb: sendUnaryData<Res>): void => {
      try {
        cb(null, fn());
      } catch (err) {
        cb(toServiceError(err, logger, method));
      }
    };
    const stream = <Req>(method: string, fn: (req: Req, write: (e: DeployEvent) => void, cancelled: () => boolean) => Promise<void>) =>
      (call: ServerWritableStream<Req, DeployEvent>): void => {
        let cancelled = false;
        call.on('cancelled', () => (cancelled = true));
        fn(call.request, (e) => call.write(e), () => cancelled).then(
          () => call.end(),
          (err: unknown) => call.emit('error', toServiceError(err, logger, method)),
        );
      };
    const unimplemented = (_call: unknown, cb: (e: { code: number; details: string }) => void): void =>
      cb({ code: status.UNIMPLEMENTED, details: 'not part of the simulated agent' });
    return {
      deploy: stream<DeployRequest>('Deploy', (req, write, cancelled) => this.deploy(req, write, cancelled)),
      remove: stream<RemoveRequest>('Remove', (req, write) => this.remove(req, write)),
      listDomains: unary('ListDomains', () => ({ domains: [...this.domains.values()] })),
      hostFacts: unary('HostFacts', () => this.facts()),
      prefetchImage: (call: ServerWritableStream<unknown, unknown>) => call.emit('error', { code: status.UNIMPLEMENTED, details: 'not part of the simulated agent' }),
      listImages: unimplemented,
      evictImage: unimplemented,
    };
  }

  private async deploy(req: DeployRequest, write: (e: DeployEvent) => void, cancelled: () => boolean): Promise<void> {
    const phase = phaseWriter(req.operationId, req.vm?.hostname ?? '', write);
    phase.start('CR', { vo: req.vm?.vo ?? '' });
    const spec = req.vm;
    if (!spec?.disk) throw new InvalidArgumentError('vm.disk', 'is required');
    const hostname = validateHostname('vm.hostname', spec.hostname);
    if (this.domains.has(hostname) || this.deploying.has(hostname)) {
      throw new AlreadyExistsError(`${hostname} is already deployed on this host: remove it first or use another pool entry`);
    }
    if (this.facts().memoryAvailableBytes < spec.memoryMb * 1024 ** 2) throw new ResourceExhaustedError(`not enough memory for ${hostname}`);
    this.deploying.add(hostname);
    try {
      await sleepIn(DELAYS.CR);
      phase.end('CR', { domain: domainNameFor(hostname) });
      const work = this.hostQueue.then(async () => {
        const cacheHit = this.cached.has(spec.disk!.sha256);
        phase.start('PT');
        await sleepIn(cacheHit ? DELAYS.PT_WARM : DELAYS.PT_COLD);
        this.cached.add(spec.disk!.sha256);
        phase.end('PT', { cache_hit: String(cacheHit), bytes: String(cacheHit ? 0 : spec.disk!.sizeBytes), disk_format: 'qcow2' });
        await timed(phase, 'DA', DELAYS.DA, { ip: spec.ip, backend: 'simulated' });
        await timed(phase, 'VMB', DELAYS.VMB, { driver: 'simulated', domain: domainNameFor(hostname) });
      });
      this.hostQueue = work.catch(() => undefined);
      await work;
      await timed(phase, 'VMR', DELAYS.VMR, { ip: spec.ip });
      if (cancelled()) throw new Error('caller cancelled');
      const domain: Domain = { name: domainNameFor(hostname), spec, state: DomainState.DOMAIN_STATE_RUNNING, driver: 'simulated', leasedIp: spec.ip };
      this.domains.set(hostname, domain);
      this.options.onChange?.();
      write({ event: { $case: 'done', value: domain } });
    } finally {
      this.deploying.delete(hostname);
    }
  }

  private async remove(req: RemoveRequest, write: (e: DeployEvent) => void): Promise<void> {
    const phase = phaseWriter(req.operationId, req.hostname, write);
    phase.start('RC');
    const hostname = validateHostname('hostname', req.hostname);
    if (this.deploying.has(hostname)) throw new FailedPreconditionError(`${hostname} is still deploying`);
    if (!this.domains.has(hostname)) throw new NotFoundError(`no VM named ${hostname} on this host (see ListDomains)`);
    phase.end('RC');
    await timed(phase, 'VMD', DELAYS.VMD, { destroyed: 'false' });
    await timed(phase, 'DHR', DELAYS.DHR);
    await timed(phase, 'DKR', DELAYS.DKR);
    this.domains.delete(hostname);
    this.options.onChange?.();
    write({ event: { $case: 'removed', value: { hostname, wasRunning: true, destroyed: false } } });
  }
}

interface PhaseWriter {
  start(phase: PhaseName, details?: Record<string, string>): void;
  end(phase: PhaseName, details?: Record<string, string>): void;
}

/** Writes phase boundaries as the real agent's PhaseRecorder does: host monotonic clock, duration on the end. */
function phaseWriter(operationId: string, hostname: string, write: (e: DeployEvent) => void): PhaseWriter {
  const started = new Map<PhaseName, number>();
  const emit = (phase: PhaseName, edge: 'start' | 'end', details: Record<string, string>): void => {
    const now = systemClock.monotonicMs();
    if (edge === 'start') started.set(phase, now);
    const durationMs = edge === 'end' ? now - (started.get(phase) ?? now) : undefined;
    const mark = { operationId, hostname, phase, edge, monotonicMs: now, unixMs: Date.now(), details, ...(durationMs === undefined ? {} : { durationMs }) };
    write({ event: { $case: 'phase', value: phaseMarkToWire(mark) } });
  };
  return { start: (p, d = {}) => emit(p, 'start', d), end: (p, d = {}) => emit(p, 'end', d) };
}

async function timed(phase: PhaseWriter, name: PhaseName, range: [number, number], details: Record<string, string> = {}): Promise<void> {
  phase.start(name);
  await sleepIn(range);
  phase.end(name, details);
}

function sleepIn([min, max]: [number, number]): Promise<void> {
  return systemClock.sleep(min + Math.random() * (max - min));
}
