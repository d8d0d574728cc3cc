import { copyFile, readFile, rm } from 'node:fs/promises';
import { SerialQueue } from '../../shared/async/serial-queue.js';
import { runChecked, ProcessRunner, type CommandRunner } from '../../shared/process/command-runner.js';
import { writeFileAtomic } from './atomic-file.js';
import type { DhcpBackend, DhcpReservation, Lease } from './dhcp-backend.js';
import { LeaseWaiters } from './lease-waiters.js';
import { LogTail } from './log-tail.js';

/** Where the host's ISC dhcpd keeps the vonode host blocks and how it is reloaded. */
export interface IscDhcpdBackendOptions {
  /** File of host blocks owned by vonode, `include`d from the main config. */
  hostsFile: string;
  /** The dhcpd.conf that includes hostsFile; checked with `dhcpd -t -cf` before every reload. */
  mainConfig: string;
  /** dhcpd's log (e.g. `dhcpd -f -d` stderr); DHCPACK lines end VMR. Fixed-address hosts never appear in dhcpd.leases. */
  logFile: string;
  /** argv that makes dhcpd load the new config, e.g. ["systemctl","restart","isc-dhcp-server"]. */
  reloadCommand: string[];
  dhcpdPath?: string;
  runner?: CommandRunner;
}

const HOST_BLOCK = /^host (\S+) \{ hardware ethernet (\S+); fixed-address (\S+); option host-name "\S+"; \}$/;

/** Renders one dhcpd host block (values are validated upstream: no quotes or braces can occur). */
export function renderHostBlock(r: DhcpReservation): string {
  return `host ${r.hostname} { hardware ethernet ${r.mac}; fixed-address ${r.ip}; option host-name "${r.hostname}"; }`;
}

/** Parses the host blocks vonode wrote (one per line). */
export function parseHostBlocks(text: string): DhcpReservation[] {
  const out: DhcpReservation[] = [];
  for (const line of text.split('\n')) {
    const m = HOST_BLOCK.exec(line.trim());
    if (m?.[1] && m[2] && m[3]) out.push({ hostname: m[1], mac: m[2], ip: m[3] });
  }
  return out;
}

/** Parses a dhcpd "DHCPACK on IP to MAC …" log line. */
export function parseDhcpAck(line: string): Lease | undefined {
  const m = /DHCPACK on (\S+) to ([0-9a-f:]{17})/i.exec(line);
  return m?.[1] && m[2] ? { ip: m[1], mac: m[2].toLowerCase() } : undefined;
}

/** ISC dhcpd: host blocks in an included file, validated by `dhcpd -t`, then a reload. */
export class IscDhcpdBackend implements DhcpBackend {
  readonly kind = 'isc-dhcpd' as const;
  private readonly queue = new SerialQueue();
  private readonly waiters = new LeaseWaiters();
  private readonly logTail: LogTail;
  private readonly runner: CommandRunner;

  constructor(private readonly options: IscDhcpdBackendOptions) {
    this.runner = options.runner ?? new ProcessRunner();
    this.logTail = new LogTail(options.logFile, (line) => {
      const lease = parseDhcpAck(line);
      // Lines are new by construction (the tail starts at the end), so any ACK counts.
      if (lease) this.waiters.offer(lease, line);
    });
  }

  async open(): Promise<void> {
    await this.logTail.start();
  }

  add(r: DhcpReservation): Promise<void> {
    return this.queue.run(async () => {
      const others = (await this.list()).filter((x) => x.hostname !== r.hostname);
      await this.replaceAndReload([...others, r]);
    });
  }

  remove(hostname: string): Promise<void> {
    return this.queue.run(async () => {
      const all = await this.list();
      const rest = all.filter((x) => x.hostname !== hostname);
      if (rest.length !== all.length) await this.replaceAndReload(rest);
    });
  }

  async list(): Promise<DhcpReservation[]> {
    return parseHostBlocks(await readFile(this.options.hostsFile, 'utf8').catch(() => ''));
  }

  waitForLease(mac: string, timeoutMs: number, signal?: AbortSignal): Promise<Lease> {
    return this.waiters.wait(mac, timeoutMs, () => true, signal);
  }

  async close(): Promise<void> {
    this.waiters.rejectAll(new Error('DHCP backend closed'));
    await this.logTail.stop();
  }

  /** Writes the new host file, proves dhcpd accepts it, reloads; restores the old file on any failure. */
  private async replaceAndReload(reservations: DhcpReservation[]): Promise<void> {
    const backup = `${this.options.hostsFile}.vonode-bak`;
    const hadFile = await copyFile(this.options.hostsFile, backup).then(() => true, () => false);
    try {
      await writeFileAtomic(this.options.hostsFile, reservations.map(renderHostBlock).join('\n') + '\n');
      await runChecked(this.runner, [this.options.dhcpdPath ?? 'dhcpd', '-t', '-q', '-cf', this.options.mainConfig]);
    } catch (e) {
      if (hadFile) await copyFile(backup, this.options.hostsFile);
      else await rm(this.options.hostsFile, { force: true });
      throw e;
    } finally {
      await rm(backup, { force: true });
    }
    await runChecked(this.runner, this.options.reloadCommand);
  }
}
