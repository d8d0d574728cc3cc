import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../shared/clock.js';
import { AlreadyExistsError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { SerialQueue } from '../../shared/async/serial-queue.js';
import type { DhcpBackend, Lease } from '../dhcp/dhcp-backend.js';
import type { HostFactsSource } from '../host/host-facts.js';
import { domainNameFor, type DomainConfig, type HypervisorDriver } from '../hypervisor/hypervisor-driver.js';
import { TemplateRestoreError, type GuestIdentity } from '../hypervisor/snapshot.js';
import type { TemplateManager } from '../templates/template-manager.js';
import type { DomainRecord, DomainStore } from '../state/domain-store.js';
import { admitMemory } from './admission.js';
import type { ImageStore } from './image-store.js';
import { PhaseRecorder, type PhaseSink } from './phase-recorder.js';
import { teardownDomain } from './teardown.js';
import type { VmSpec } from './vm-spec.js';

/** Settings of the deployer, from the agent config. */
export interface DeployerSettings {
  stateDir: string;
  vmrTimeoutMs: number;
  memoryReserveBytes: number;
}

/** What the deployer works with; real implementations in production, fakes in unit tests. */
export interface DeployerDeps {
  driver: HypervisorDriver;
  dhcp: DhcpBackend;
  images: ImageStore;
  store: DomainStore;
  facts: HostFactsSource;
  clock: Clock;
  logger: Logger;
  settings: DeployerSettings;
  /** Snapshot templates (a driver with SnapshotSupport, templates enabled): deployments restore one when it exists. */
  templates?: TemplateManager;
}

/** How VMB started the domain, for the VMB and VMR details. */
interface StartOutcome {
  restored: boolean;
  /** The template restored, or why none was (cold boot). */
  details: Record<string, string>;
}

/** One deployment request, validated. */
export interface DeployCommand {
  operationId?: string;
  spec: VmSpec;
  allowParallel?: boolean;
  /** Monotonic time the request arrived (CR start). */
  receivedAtMs?: number;
}

/**
 * Turns a VM request into a running, DHCP-configured domain, one phase at a
 * time (CR, PT, DA, VMB, VMR), persisting a record before acting so a crash
 * at any point is recoverable. The host-side work of deployments (image
 * transfer, DHCP, hypervisor start) runs one at a time (the paper found
 * parallel image copies slow every copy) unless asked otherwise.
 */
export class Deployer {
  private readonly queue = new SerialQueue();
  // Admission reads every record and writes a new one: two deployments checked
  // at once would both find the IP (or MAC, hostname, memory) free.
  private readonly admission = new SerialQueue();
  private inFlight = 0;
  private lastActiveMs: number;

  constructor(private readonly deps: DeployerDeps) {
    this.lastActiveMs = deps.clock.monotonicMs();
  }

  /** Milliseconds since the last deployment ended (0 while one runs): templates are built in idle time. */
  idleForMs(): number {
    return this.inFlight > 0 ? 0 : this.deps.clock.monotonicMs() - this.lastActiveMs;
  }

  /** Deployments waiting or running in the host queue. */
  get queueDepth(): number {
    return this.queue.depth;
  }

  /** Directory of instance disks. */
  get instancesDir(): string {
    return path.join(this.deps.settings.stateDir, 'instances');
  }

  /** Directory of per-domain runtime files. */
  get runRoot(): string {
    return path.join(this.deps.settings.stateDir, 'run');
  }

  /**
   * Deploys one VM, reporting every phase boundary to `sink`. Resolves with
   * the running domain's record. Throws AlreadyExistsError (hostname, IP or
   * MAC held by a domain of this host), ResourceExhaustedError, or the
   * failing phase's error after undoing everything it did.
   */
  async deploy(command: DeployCommand, sink: PhaseSink, signal?: AbortSignal): Promise<DomainRecord> {
    const { spec } = command;
    const operationId = command.operationId || randomUUID();
    this.inFlight++;
    this.deps.templates?.deploymentStarting();
    try {
      const phases = new PhaseRecorder(operationId, spec.hostname, this.deps.clock, sink);
      phases.start('CR', { vo: spec.vo }, command.receivedAtMs);
      const record = await this.admission.run(() => this.admit(operationId, spec));
      phases.end('CR', { domain: record.domainName });
      return await this.run(record, phases, this.deps.clock.monotonicMs(), command.allowParallel ?? false, signal);
    } finally {
      this.inFlight--;
      this.lastActiveMs = this.deps.clock.monotonicMs();
    }
  }

  /** Runs inside `admission`: nothing else reads or adds records meanwhile. */
  private async admit(operationId: string, spec: VmSpec): Promise<DomainRecord> {
    const { store, facts, settings, driver } = this.deps;
    if (await store.get(spec.hostname)) {
      throw new AlreadyExistsError(`${spec.hostname} is already deployed on this host: remove it first or use another pool entry`);
    }
    const records = await store.list();
    refuseHeldIdentity(records, spec);
    const committed = records.reduce((sum, r) => sum + r.spec.memoryMb * 1024 ** 2, 0);
    admitMemory(await facts.read(settings.stateDir), committed, settings.memoryReserveBytes, spec.hostname, spec.memoryMb);
    const domainName = domainNameFor(spec.hostname);
    const record: DomainRecord = {
      hostname: spec.hostname,
      domainName,
      operationId,
      status: 'deploying',
      spec,
      driver: driver.kind,
      overlayPath: path.join(this.instancesDir, `${domainName}.qcow2`),
      runDir: path.join(this.runRoot, domainName),
      imageShas: [spec.disk, spec.kernel, spec.initrd].filter((i) => i !== undefined).map((i) => i.sha256),
      createdUnixMs: this.deps.clock.nowMs(),
    };
    await store.put(record); // on disk before anything is acted on
    return record;
  }

  /**
   * PT, DA and VMB hold the host queue; VMR does not: once the hypervisor
   * runs the domain the host's work is done and the guest boots on its own
   * CPU, so the next deployment's image transfer overlaps earlier guests'
   * boots instead of waiting for them (three VMs cost one boot, not three).
   */
  private async run(record: DomainRecord, phases: PhaseRecorder, queuedAt: number, allowParallel: boolean, signal?: AbortSignal): Promise<DomainRecord> {
    const { store, logger } = this.deps;
    const log = logger.child({ hostname: record.hostname, operationId: record.operationId });
    const state = { acquired: false };
    try {
      const hostWork = (): Promise<{ lease: Promise<Lease>; restored: boolean }> => this.hostWork(record, phases, queuedAt, state, signal);
      const { lease, restored } = await (allowParallel ? hostWork() : this.queue.run(hostWork));
      const got = await phases.phase('VMR', () => lease, (l) => ({ ip: l.ip, restored: String(restored) }));
      const running: DomainRecord = { ...record, status: 'running', leasedIp: got.ip };
      await store.put(running);
      log.info({ leasedIp: got.ip }, 'domain deployed');
      return running;
    } catch (err) {
      log.warn({ err }, 'deployment failed; undoing it');
      await teardownDomain(this.deps, record, { releaseImages: state.acquired }).catch((e: unknown) =>
        log.error({ err: e }, 'cleanup after failed deployment failed; restart recovery will retry'),
      );
      throw err;
    }
  }

  /** PT, DA, VMB; resolves with the armed wait for the guest's lease (wrapped, so awaiting this does not await the lease). */
  private async hostWork(
    record: DomainRecord,
    phases: PhaseRecorder,
    queuedAt: number,
    state: { acquired: boolean },
    signal?: AbortSignal,
  ): Promise<{ lease: Promise<Lease>; restored: boolean }> {
    const { images, dhcp, driver, settings } = this.deps;
    const { spec } = record;
    signal?.throwIfAborted();
    phases.start('PT', { queue_wait_ms: (this.deps.clock.monotonicMs() - queuedAt).toFixed(1) });
    const boot = await images.prepare(spec, record.overlayPath, signal);
    state.acquired = true;
    phases.end('PT', { cache_hit: String(boot.cacheHit), bytes: String(boot.bytesTransferred), disk_format: boot.diskFormat });

    await phases.phase('DA', () => dhcp.add({ hostname: spec.hostname, mac: spec.mac, ip: spec.ip }, signal), () => ({ ip: spec.ip, backend: dhcp.kind }));

    // Armed before the domain starts: a fast guest must not beat the watcher.
    const lease = dhcp.waitForLease(spec.mac, settings.vmrTimeoutMs, signal);
    lease.catch(() => undefined);
    const runDir = record.runDir;
    await mkdir(runDir, { recursive: true });
    const config: DomainConfig = {
      name: record.domainName,
      hostname: spec.hostname,
      mac: spec.mac,
      ip: spec.ip,
      vcpus: spec.vcpus,
      memoryMb: spec.memoryMb,
      diskPath: record.overlayPath,
      diskFormat: 'qcow2',
      runDir,
      ...(boot.kernelPath ? { kernelPath: boot.kernelPath } : {}),
      ...(boot.initrdPath ? { initrdPath: boot.initrdPath } : {}),
      ...(spec.cmdline ? { cmdline: spec.cmdline } : {}),
    };
    const started = await phases.phase('VMB', () => this.startDomain(config, spec, signal), (o) => ({ driver: driver.kind, domain: record.domainName, restored: String(o.restored), ...o.details }));
    return { lease, restored: started.restored };
  }

  /**
   * Restores the appliance's snapshot template when there is one, else (or
   * when the restore fails: the failed domain is gone by then) boots cold and
   * asks for a template to be built in idle time.
   */
  private async startDomain(config: DomainConfig, spec: VmSpec, signal?: AbortSignal): Promise<StartOutcome> {
    const { driver, templates, logger } = this.deps;
    if (!templates || !driver.snapshots) {
      await driver.start(config, signal);
      return { restored: false, details: {} };
    }
    // A template lookup that fails (the hypervisor's version unreadable, a file error) costs a cold boot, not the deployment.
    const lookup = await templates.find(spec).catch((e: unknown) => ({ found: undefined, reason: 'none' as const, detail: `template lookup failed: ${errorMessage(e)}` }));
    let coldBecause = lookup.found ? '' : lookup.detail;
    if (lookup.found) {
      const { record, files } = lookup.found;
      try {
        const took = await driver.snapshots.restore({ ...config, cmdline: record.shape.cmdline }, { files, stateSha256: record.stateSha256 }, this.identityOf(spec), signal);
        const ms = (n: number): string => n.toFixed(0);
        return { restored: true, details: { template: record.key, restore_launch_ms: ms(took.launchMs), restore_load_ms: ms(took.loadMs), restore_identity_ms: ms(took.identityMs) } };
      } catch (e) {
        if (!(e instanceof TemplateRestoreError)) throw e;
        signal?.throwIfAborted();
        coldBecause = `restore of template ${record.key} failed: ${e.message}`;
        logger.warn({ hostname: spec.hostname, template: record.key, err: e.message }, 'restore failed; booting cold');
        if (e.stateBad) await templates.invalidate(record.key, e.message);
      }
    }
    await driver.start(config, signal);
    void templates.want(spec).catch((e: unknown) => logger.warn({ err: e }, 'could not ask for a template'));
    return { restored: false, details: { cold_boot_reason: coldBecause } };
  }

  /** The identity a restored guest takes: its pool triple, the host's clock, fresh randomness. */
  private identityOf(spec: VmSpec): GuestIdentity {
    return { hostname: spec.hostname, mac: spec.mac, ip: spec.ip, unixTimeS: this.deps.clock.nowMs() / 1000, seedHex: randomBytes(32).toString('hex') };
  }
}

/**
 * Throws AlreadyExistsError when a domain record of this host (deploying,
 * running or being removed) holds the IP or MAC of `spec`: two guests with one
 * address would both get DHCP reservations and fight over it.
 */
function refuseHeldIdentity(records: readonly DomainRecord[], spec: VmSpec): void {
  for (const r of records) {
    const held: Array<[string, string, boolean]> = [
      ['vm.hostname', spec.hostname, r.hostname === spec.hostname],
      ['vm.ip', spec.ip, r.spec.ip === spec.ip || r.leasedIp === spec.ip],
      ['vm.mac', spec.mac, r.spec.mac === spec.mac],
    ];
    const clash = held.find(([, , same]) => same);
    if (clash) {
      throw new AlreadyExistsError(
        `${clash[0]} ${clash[1]} is already held by domain ${r.domainName} (hostname ${r.hostname}, ${r.status}) on this host: ` +
          'remove that VM first or use another pool entry',
      );
    }
  }
}
