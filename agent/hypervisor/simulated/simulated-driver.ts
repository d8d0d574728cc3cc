import { ProcessRunner, type CommandRunner } from '../../../shared/process/command-runner.js';
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../../../shared/clock.js';
import { AlreadyExistsError, UnavailableError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { writeFileAtomic } from '../../dhcp/atomic-file.js';
import { DOMAIN_PREFIX, type DomainConfig, type DomainInfo, type DomainRunState, type HypervisorDriver } from '../hypervisor-driver.js';

/** Options of the simulated driver (config section `hypervisor.simulated`). */
export interface SimulatedDriverOptions {
  /** The agent's run root; domains persist as `<runRoot>/simulated/<name>.json`. */
  runRoot: string;
  /** dnsmasq-format lease file the simulated guest appends its lease line to (the one the agent's dnsmasq backend watches). */
  leaseFile: string;
  /** create → running; default 50 ms. */
  startDelayMs?: number;
  /** running → the guest takes its DHCP lease; default 300 ms. */
  bootDelayMs?: number;
  /** Every start throws UnavailableError (tests the coordinator's retry on another host). */
  failStart?: boolean;
  /** Lease time written in the lease line; default 1 h. */
  leaseSeconds?: number;
  /** Run once the guest has its lease, as its own boot would ({hostname}, {ip}, {mac} replaced). */
  guestCommand?: readonly string[];
  /** Run when the guest halts (shutdown, destroy). */
  haltCommand?: readonly string[];
  /** Runs guestCommand/haltCommand; default the real ProcessRunner. */
  runner?: CommandRunner;
  clock?: Clock;
  logger?: Logger;
}

/** What the simulated hypervisor remembers about one domain (its whole "disk image"). */
interface SimulatedDomain {
  name: string;
  hostname: string;
  mac: string;
  ip: string;
  state: DomainRunState;
  createdUnixMs: number;
}

/**
 * A SIMULATED hypervisor: it boots nothing. It exists only so coordinator
 * integration tests and scale benchmarks can run many real agent processes
 * without real VMs; the real drivers (qemu, libvirt, xen) are covered by
 * their own tests. It plays the hypervisor and the guest: start() records a
 * domain (as a JSON file, so list() survives an agent restart like a real
 * hypervisor's domains do) and, `bootDelayMs` after it runs, the "guest"
 * appends the lease of its DHCP reservation to the lease file, exactly as
 * dnsmasq would, so the agent's real DHCP backend and lease watching end VMR.
 */
export class SimulatedDriver implements HypervisorDriver {
  readonly kind = 'simulated' as const;
  private readonly dir: string;
  private readonly clock: Clock;
  /** Per domain: cancels its pending boot or power-off. */
  private readonly timers = new Map<string, AbortController>();
  /** Highest expiry in the lease file when this driver first leased (read once). */
  private expiryFloor: Promise<number> | undefined;
  private lastExpiry = 0;

  constructor(private readonly options: SimulatedDriverOptions) {
    this.dir = path.join(options.runRoot, 'simulated');
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Records the domain, waits startDelayMs, marks it running and schedules
   * the guest's lease. Throws AlreadyExistsError for a recorded name, or
   * UnavailableError (leaving nothing) if failStart is set.
   */
  async start(config: DomainConfig, signal?: AbortSignal): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (await this.read(config.name)) throw new AlreadyExistsError(`simulated domain ${config.name} already exists`);
    const domain: SimulatedDomain = {
      name: config.name, hostname: config.hostname, mac: config.mac.toLowerCase(), ip: config.ip, state: 'defined', createdUnixMs: this.clock.nowMs(),
    };
    // Defined before it runs, as with a real hypervisor: an agent crash during start leaves a domain for recovery to find.
    await this.write(domain);
    await this.clock.sleep(this.options.startDelayMs ?? 50, signal);
    if (this.options.failStart) {
      await rm(this.fileOf(config.name), { force: true });
      throw new UnavailableError(`simulated hypervisor refused to start ${config.name} (hypervisor.simulated.failStart is set)`);
    }
    await this.write({ ...domain, state: 'running' });
    this.schedule(config.name, this.options.bootDelayMs ?? 300, () => this.takeLease(domain));
  }

  /** Marks the domain shut down after a short delay (startDelayMs, at most timeoutMs); always true (a simulated guest never hangs). */
  async shutdown(name: string, timeoutMs: number): Promise<boolean> {
    this.cancel(name);
    const domain = await this.read(name);
    if (!domain || domain.state !== 'running') return true;
    await this.playGuest(this.options.haltCommand, domain);
    await this.clock.sleep(Math.min(this.options.startDelayMs ?? 50, timeoutMs));
    // A destroy may have raced the power-off: only a still-recorded domain changes state.
    if (await this.read(name)) await this.write({ ...domain, state: 'shutdown' });
    return true;
  }

  /** Forgets the domain (cancelling a pending boot); idempotent. */
  async destroy(name: string): Promise<void> {
    this.cancel(name);
    const domain = await this.read(name);
    if (domain?.state === 'running') await this.playGuest(this.options.haltCommand, domain);
    await rm(this.fileOf(name), { force: true });
  }

  /** The recorded domains, including those of an earlier agent process. */
  async list(): Promise<DomainInfo[]> {
    const files = (await readdir(this.dir).catch(() => [] as string[])).filter((f) => f.startsWith(DOMAIN_PREFIX) && f.endsWith('.json'));
    const domains = await Promise.all(files.map((f) => this.read(f.slice(0, -'.json'.length))));
    return domains.filter((d): d is SimulatedDomain => d !== undefined).map((d) => ({ name: d.name, state: d.state }));
  }

  /** Cancels pending boots and power-offs; recorded domains stay (as real ones keep running). */
  async close(): Promise<void> {
    for (const name of [...this.timers.keys()]) this.cancel(name);
  }

  /** The guest's DHCP client: appends "expiry mac ip hostname *" as dnsmasq writes it. */
  private async takeLease(domain: SimulatedDomain): Promise<void> {
    if (!(await this.read(domain.name))) return; // destroyed while booting
    // Strictly increasing expiry, also across agent restarts: a redeployed pool
    // triple must produce a new lease line, or the backend would take it for
    // the previous guest's lease and VMR would never end.
    const floor = await (this.expiryFloor ??= highestExpiry(this.options.leaseFile));
    const expiry = Math.max(Math.floor(this.clock.nowMs() / 1000) + (this.options.leaseSeconds ?? 3600), floor + 1, this.lastExpiry + 1);
    this.lastExpiry = expiry;
    // O_APPEND keeps lines whole even when several agents share one lease file.
    await appendFile(this.options.leaseFile, `${expiry} ${domain.mac} ${domain.ip} ${domain.hostname} *\n`);
    await this.playGuest(this.options.guestCommand, domain);
  }

  /** Runs a guest hook with the domain's (validated) names filled in; a failure is logged, as a guest's would be in its console. */
  private async playGuest(argv: readonly string[] | undefined, domain: SimulatedDomain): Promise<void> {
    if (!argv) return;
    const filled = argv.map((a) => a.replaceAll('{hostname}', domain.hostname).replaceAll('{ip}', domain.ip).replaceAll('{mac}', domain.mac));
    const runner = this.options.runner ?? new ProcessRunner();
    const result = await runner.run(filled);
    if (result.code !== 0) this.options.logger?.warn({ domain: domain.name, argv: filled, code: result.code, stderr: result.stderr.slice(-500) }, 'simulated guest command failed');
  }

  private schedule(name: string, delayMs: number, action: () => Promise<void>): void {
    this.cancel(name);
    const abort = new AbortController();
    this.timers.set(name, abort);
    void this.clock.sleep(delayMs, abort.signal).then(
      () => {
        this.timers.delete(name);
        return action().catch((err: unknown) => this.options.logger?.warn({ err, domain: name }, 'simulated guest could not write its lease'));
      },
      () => undefined, // cancelled
    );
  }

  private cancel(name: string): void {
    this.timers.get(name)?.abort();
    this.timers.delete(name);
  }

  private async read(name: string): Promise<SimulatedDomain | undefined> {
    try {
      return JSON.parse(await readFile(this.fileOf(name), 'utf8')) as SimulatedDomain;
    } catch {
      return undefined;
    }
  }

  private write(domain: SimulatedDomain): Promise<void> {
    return writeFileAtomic(this.fileOf(domain.name), JSON.stringify(domain) + '\n');
  }

  private fileOf(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }
}

/** The highest expiry (first field) in a dnsmasq lease file; 0 if it is missing or empty. */
async function highestExpiry(leaseFile: string): Promise<number> {
  const text = await readFile(leaseFile, 'utf8').catch(() => '');
  return text.split('\n').reduce((max, line) => Math.max(max, Number(line.split(' ', 1)[0]) || 0), 0);
}
