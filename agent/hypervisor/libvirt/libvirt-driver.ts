import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../../../shared/clock.js';
import { UnavailableError } from '../../../shared/errors.js';
import { DOMAIN_PREFIX, type DomainConfig, type DomainInfo, type DomainRunState, type HypervisorDriver } from '../hypervisor-driver.js';
import { renderDomainXml, type DomainXmlOptions } from './domain-xml.js';
import { classifyVirshFailure, LibvirtDomainNotFoundError, LibvirtNotRunningError } from './virsh-errors.js';
import { VirshSession } from './virsh-session.js';

/** Options of the libvirt driver. */
export interface LibvirtDriverOptions extends DomainXmlOptions {
  /** libvirt connection URI, e.g. qemu:///system, xen:///system, test:///default. */
  uri: string;
  session?: VirshSession;
  clock?: Clock;
}

// `virsh domstate` words mapped to the driver-neutral states.
const DOMSTATE: Record<string, DomainRunState> = {
  running: 'running',
  idle: 'running',
  blocked: 'running',
  paused: 'paused',
  pmsuspended: 'paused',
  'in shutdown': 'running',
  'shut off': 'shutdown',
  crashed: 'crashed',
};

/** Parses `virsh domstate` output. */
export function parseDomstate(text: string): DomainRunState {
  return DOMSTATE[text.trim().split('\n')[0]?.trim() ?? ''] ?? 'crashed';
}

/** Parses `virsh list --all --name`, keeping only vonode's domains. */
export function parseDomainNames(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((n) => n.startsWith(DOMAIN_PREFIX));
}

const POWER_BUTTON_REPEAT_MS = 2000;

/**
 * Domains through libvirt (virsh over one long-lived connection): define
 * with schema validation, start, shutdown with a repeated ACPI request,
 * destroy + undefine. Works with any libvirt driver, including the built-in
 * test driver the tests use.
 */
export class LibvirtDriver implements HypervisorDriver {
  readonly kind = 'libvirt' as const;
  private readonly session: VirshSession;
  private readonly clock: Clock;

  constructor(private readonly options: LibvirtDriverOptions) {
    this.session = options.session ?? new VirshSession(options.uri);
    this.clock = options.clock ?? systemClock;
  }

  async start(config: DomainConfig): Promise<void> {
    await mkdir(config.runDir, { recursive: true });
    const xmlFile = path.join(config.runDir, 'domain.xml');
    await writeFile(xmlFile, renderDomainXml(config, this.options));
    await this.run(['define', '--validate', xmlFile]);
    try {
      await this.run(['start', config.name]);
    } catch (e) {
      await this.session.exec(['undefine', config.name]);
      throw e;
    }
    const state = await this.state(config.name);
    if (state !== 'running') throw new UnavailableError(`${config.name} is ${state} after start`);
  }

  async shutdown(name: string, timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.monotonicMs() + timeoutMs;
    while (this.clock.monotonicMs() < deadline) {
      const state = await this.state(name).catch((e: unknown) => (e instanceof LibvirtDomainNotFoundError ? 'gone' : Promise.reject(e)));
      if (state === 'gone' || state === 'shutdown') return true;
      // Repeated: a guest still booting ignores the first ACPI request.
      await this.session.exec(['shutdown', name]);
      const until = Math.min(deadline, this.clock.monotonicMs() + POWER_BUTTON_REPEAT_MS);
      while (this.clock.monotonicMs() < until) {
        const now = await this.state(name).catch(() => 'shutdown' as const);
        if (now === 'shutdown') return true;
        await this.clock.sleep(100);
      }
    }
    return false;
  }

  async destroy(name: string): Promise<void> {
    await this.runIgnoring(['destroy', name], [LibvirtDomainNotFoundError, LibvirtNotRunningError]);
    await this.runIgnoring(['undefine', name], [LibvirtDomainNotFoundError]);
  }

  async list(): Promise<DomainInfo[]> {
    const names = parseDomainNames((await this.run(['list', '--all', '--name'])).stdout);
    const out: DomainInfo[] = [];
    for (const name of names) out.push({ name, state: await this.state(name) });
    return out;
  }

  async close(): Promise<void> {
    this.session.close();
  }

  private async state(name: string): Promise<DomainRunState> {
    return parseDomstate((await this.run(['domstate', name])).stdout);
  }

  private async run(args: string[]): Promise<{ stdout: string }> {
    const result = await this.session.exec(args);
    if (!result.ok) throw classifyVirshFailure(args, result);
    return result;
  }

  private async runIgnoring(args: string[], ignore: Array<new (...a: never[]) => Error>): Promise<void> {
    try {
      await this.run(args);
    } catch (e) {
      if (!ignore.some((cls) => e instanceof cls)) throw e;
    }
  }
}
