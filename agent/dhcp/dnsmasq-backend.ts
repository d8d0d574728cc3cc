import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DeadlineError, UnavailableError } from '../../shared/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import type { DhcpBackend, DhcpReservation, Lease } from './dhcp-backend.js';
import { FileWatch } from '../../shared/fs/file-watch.js';
import { LeaseWaiters } from './lease-waiters.js';
import { LogTail } from './log-tail.js';

/** Where the host's dnsmasq keeps its reservations, leases and log. */
export interface DnsmasqBackendOptions {
  /** dnsmasq --dhcp-hostsdir: one file per VM, re-read by dnsmasq on inotify, no SIGHUP. */
  hostsDir: string;
  /** dnsmasq --dhcp-leasefile. */
  leaseFile: string;
  /**
   * dnsmasq --log-facility file. When set, DA ends only when dnsmasq logs
   * "read <file>", i.e. when the server has really loaded the reservation.
   */
  logFile?: string;
  /** How long to wait for dnsmasq to load a reservation. */
  loadTimeoutMs?: number;
  /**
   * dnsmasq --pid-file. When set, removing a reservation sends dnsmasq
   * SIGHUP, the only way it forgets a deleted hostsdir file's record.
   */
  pidFile?: string;
}

/** Parses dnsmasq's lease file ("expiry mac ip hostname client-id" per line) into MAC → line. */
export function parseDnsmasqLeases(text: string): Map<string, { ip: string; line: string }> {
  const leases = new Map<string, { ip: string; line: string }>();
  for (const line of text.split('\n')) {
    const [, mac, ip] = line.trim().split(/\s+/);
    if (mac && ip) leases.set(mac.toLowerCase(), { ip, line: line.trim() });
  }
  return leases;
}

/** dnsmasq reservations as one file per VM in --dhcp-hostsdir; leases from its lease file. */
export class DnsmasqBackend implements DhcpBackend {
  readonly kind = 'dnsmasq' as const;
  private readonly waiters = new LeaseWaiters();
  private readonly loadWaiters = new Map<string, () => void>();
  private readonly leaseWatch: FileWatch;
  private readonly logTail: LogTail | undefined;
  private leases = new Map<string, { ip: string; line: string }>();

  constructor(private readonly options: DnsmasqBackendOptions) {
    this.leaseWatch = new FileWatch(options.leaseFile, () => void this.readLeases());
    this.logTail = options.logFile ? new LogTail(options.logFile, (l) => this.onLogLine(l)) : undefined;
  }

  async open(): Promise<void> {
    await this.readLeases();
    await this.leaseWatch.start();
    await this.logTail?.start();
  }

  async add(r: DhcpReservation, signal?: AbortSignal): Promise<void> {
    const file = this.fileFor(r.hostname);
    const loaded = this.logTail ? this.waitLoaded(file, signal) : Promise.resolve();
    await writeFileAtomic(file, `${r.mac},${r.ip},${r.hostname}\n`);
    await loaded;
  }

  async remove(hostname: string): Promise<void> {
    await rm(this.fileFor(hostname), { force: true });
    // dnsmasq keeps a deleted hostsdir file's record until SIGHUP. Pool triples move between hosts
    // on one LAN: a record left here makes this host's dnsmasq answer the node's next guest on
    // another host, and that guest may take this offer and lease here (seen in the testbed: the
    // new host's agent then waits out VMR for a lease that went elsewhere).
    if (this.options.pidFile) await reloadDnsmasq(this.options.pidFile);
  }

  async list(): Promise<DhcpReservation[]> {
    const out: DhcpReservation[] = [];
    for (const name of await readdir(this.options.hostsDir).catch(() => [] as string[])) {
      if (name.startsWith('.')) continue;
      const text = await readFile(path.join(this.options.hostsDir, name), 'utf8').catch(() => '');
      const [mac, ip, hostname] = text.trim().split(',');
      if (mac && ip && hostname) out.push({ mac, ip, hostname });
    }
    return out;
  }

  waitForLease(mac: string, timeoutMs: number, signal?: AbortSignal): Promise<Lease> {
    const before = this.leases.get(mac)?.line;
    const wait = this.waiters.wait(mac, timeoutMs, (_lease, raw) => raw !== before, signal);
    void this.readLeases();
    return wait;
  }

  async close(): Promise<void> {
    this.waiters.rejectAll(new Error('DHCP backend closed'));
    await this.leaseWatch.stop();
    await this.logTail?.stop();
  }

  private fileFor(hostname: string): string {
    return path.join(this.options.hostsDir, hostname);
  }

  private async readLeases(): Promise<void> {
    const text = await readFile(this.options.leaseFile, 'utf8').catch(() => '');
    this.leases = parseDnsmasqLeases(text);
    if (!this.waiters.active) return;
    for (const [mac, { ip, line }] of this.leases) this.waiters.offer({ mac, ip }, line);
  }

  private waitLoaded(file: string, signal?: AbortSignal): Promise<void> {
    const timeoutMs = this.options.loadTimeoutMs ?? 5000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.loadWaiters.delete(file);
        reject(new DeadlineError(`dnsmasq did not load ${file} within ${timeoutMs} ms: is it running with --dhcp-hostsdir=${this.options.hostsDir} and --log-facility=${this.options.logFile}?`));
      }, timeoutMs);
      signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      this.loadWaiters.set(file, () => (clearTimeout(timer), resolve()));
    });
  }

  private onLogLine(line: string): void {
    // dnsmasq logs "dnsmasq-dhcp[pid]: read /path/to/file" after loading a hostsdir file.
    const match = / read (\S+)$/.exec(line);
    const file = match?.[1];
    if (!file) return;
    const done = this.loadWaiters.get(file);
    if (done) {
      this.loadWaiters.delete(file);
      done();
    }
  }
}

/**
 * Sends SIGHUP to the dnsmasq that wrote `pidFile`, after checking the pid
 * is a dnsmasq (a stale pid file must not signal another process). Throws
 * UnavailableError when there is none: the caller's removal is then not
 * done (the record would stay).
 */
export async function reloadDnsmasq(pidFile: string): Promise<void> {
  const pid = Number.parseInt((await readFile(pidFile, 'utf8').catch(() => '')).trim(), 10);
  const comm = Number.isInteger(pid) && pid > 0 ? (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() : '';
  if (comm !== 'dnsmasq') throw new UnavailableError(`no dnsmasq runs with the pid in ${pidFile} (dhcp.dnsmasq.pidFile): start dnsmasq or fix the path; a removed reservation stays in dnsmasq until it reloads`);
  process.kill(pid, 'SIGHUP');
}
