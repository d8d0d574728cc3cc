import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseReply, type ImReply } from '../../../coordinator/gridway/im-protocol.js';
import { REPO } from './testbed-process.js';

/** gwd's timing (gwd.conf): MONITORING_INTERVAL, and how often its IM timer runs (gw_im_timer: every 5 s). */
export interface GwdStandInOptions {
  /** A known host is monitored again only this long after its last MONITOR (gwd's default: 180 s). */
  monitoringIntervalMs?: number;
  /** gwd's IM pass: new hosts and hosts due are monitored on it (gwd: every 5 s). */
  imPassMs?: number;
}

/** One host of gwd's pool, as gw_host_pool keeps it. */
interface PoolHost {
  hid: string;
  /** 0: never monitored (a new host: monitored on the next IM pass). */
  lastMonitoringMs: number;
}

/**
 * gwd's side of GridWay's information-manager MAD protocol, for the
 * testbed. GridWay is not packaged for Debian, so this STAND-IN plays gwd: it
 * starts the real `vonode-gw-im-mad`, sends INIT and DISCOVER as gwd does, and
 * keeps a host pool by gwd's own rules (src/host/gw_host_pool.c,
 * src/im/gw_im_listener.c): a host gwd never saw gets the next id and is
 * MONITORed on the next IM pass; a DISCOVER of a known host changes nothing
 * (it is MONITORed again only when MONITORING_INTERVAL has passed since its
 * last MONITOR); every MONITOR reply, asked for or not, is applied to the
 * host of its id; a reply for an id gwd does not have is the fatal error it
 * is in gwd (recorded in `fatal`, and the stand-in stops). The MAD, the
 * coordinator and the GW phase it ends are the real ones.
 */
export class GwdStandIn {
  /** Hosts of the latest DISCOVER line. */
  view: string[] = [];
  /** Last MONITOR SUCCESS attributes per host (what gwd schedules with). */
  readonly attributes = new Map<string, string>();
  /** Set when the MAD sent what would crash gwd. */
  fatal: string | undefined;
  private readonly pool = new Map<string, PoolHost>();
  private readonly hostOfHid = new Map<string, string>();
  private proc: ChildProcessWithoutNullStreams | undefined;
  private discoverWaiters: Array<(hosts: string[]) => void> = [];
  private initDone: (() => void) | undefined;
  private readonly log: WriteStream;
  private passTimer: NodeJS.Timeout | undefined;
  private readonly monitoringIntervalMs: number;
  private readonly imPassMs: number;

  /** `argv` runs the MAD (e.g. inside the frontend's namespace); the protocol dialogue goes to `logFile`. */
  constructor(private readonly argv: readonly string[], logFile: string, options: GwdStandInOptions = {}) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.monitoringIntervalMs = options.monitoringIntervalMs ?? 180_000;
    this.imPassMs = options.imPassMs ?? 5_000;
  }

  /** Free slots gwd would schedule with on `host` (QUEUE_FREENODECOUNT[0] of its last MONITOR reply; 0 if none). */
  freeSlots(host: string): number {
    const m = /QUEUE_FREENODECOUNT\[0\]=(\d+)/.exec(this.attributes.get(host) ?? '');
    return m ? Number(m[1]) : 0;
  }

  /** gwd's id of a host, if it is in the pool. */
  hidOf(host: string): string | undefined {
    return this.pool.get(host)?.hid;
  }

  /** Starts the MAD and completes INIT and the first DISCOVER. */
  async start(): Promise<void> {
    const [cmd, ...args] = this.argv;
    const proc = spawn(cmd!, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.on('error', (e) => this.log.write(`# spawn error: ${e.message}\n`));
    proc.stderr.on('data', (d: Buffer) => this.log.write(`# stderr: ${d.toString()}`));
    createInterface({ input: proc.stdout }).on('line', (line) => this.onLine(line));
    const init = new Promise<void>((r) => (this.initDone = r));
    this.send('INIT - - -');
    await this.within(init, 30_000, 'INIT');
    await this.discover();
    this.passTimer = setInterval(() => this.imPass(), this.imPassMs);
  }

  /** gw_host_pool_monitor_hosts: MONITOR every host never monitored, or not for MONITORING_INTERVAL. */
  private imPass(): void {
    if (this.fatal) return;
    const now = Date.now();
    for (const [host, h] of this.pool) {
      if (h.lastMonitoringMs !== 0 && now - h.lastMonitoringMs < this.monitoringIntervalMs) continue;
      h.lastMonitoringMs = now;
      this.send(`MONITOR ${h.hid} ${host} -`);
    }
  }

  /** Asks for DISCOVER (as gwd does every DISCOVERY_INTERVAL) and returns the hosts of the next DISCOVER line. */
  async discover(): Promise<string[]> {
    const next = new Promise<string[]>((r) => this.discoverWaiters.push(r));
    this.send('DISCOVER - - -');
    return this.within(next, 15_000, 'DISCOVER');
  }

  /** FINALIZE, then make sure the MAD is gone. */
  async stop(): Promise<void> {
    clearInterval(this.passTimer);
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      this.send('FINALIZE - - -');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await new Promise<void>((r) => this.log.end(r));
  }

  private send(line: string): void {
    this.log.write(`> ${line}\n`);
    this.proc?.stdin.write(`${line}\n`);
  }

  private onLine(line: string): void {
    this.log.write(`< ${line}\n`);
    let reply: ImReply;
    try {
      reply = parseReply(line);
    } catch (e) {
      this.log.write(`# unparsable reply: ${(e as Error).message}\n`);
      return;
    }
    if (reply.action === 'INIT') this.initDone?.();
    if (reply.action === 'MONITOR') this.onMonitor(reply);
    if (reply.action === 'DISCOVER' && reply.result === 'SUCCESS') this.onDiscover(reply.info ? reply.info.split(' ') : []);
  }

  /** gw_im_listener: a MONITOR reply is applied to the host of its id, asked for or not; an unknown id is fatal. */
  private onMonitor(reply: ImReply): void {
    const host = this.hostOfHid.get(reply.hid);
    if (host === undefined) {
      this.fatal ??= `MONITOR reply for host id ${reply.hid}, which gwd does not have (gwd would crash): ${reply.info.slice(0, 80)}`;
      this.log.write(`# FATAL: ${this.fatal}\n`);
      clearInterval(this.passTimer);
      return;
    }
    if (reply.result === 'SUCCESS') this.attributes.set(host, reply.info);
    else this.attributes.delete(host); // gw_host_clear_dynamic_info
  }

  /** gw_host_pool_update: a new host gets the next id (monitored on the next pass); a known one changes nothing. */
  private onDiscover(hosts: string[]): void {
    this.view = hosts;
    for (const h of hosts) {
      if (this.pool.has(h)) continue;
      const hid = String(this.pool.size);
      this.pool.set(h, { hid, lastMonitoringMs: 0 });
      this.hostOfHid.set(hid, h);
    }
    const waiters = this.discoverWaiters;
    this.discoverWaiters = [];
    for (const w of waiters) w(hosts);
  }

  private async within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`vonode-gw-im-mad did not answer ${what} within ${ms / 1000} s`)), ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
