import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseReply, type ImReply } from '../../../coordinator/gridway/im-protocol.js';
import { REPO } from './testbed-process.js';

/**
 * gwd's side of GridWay's information-manager MAD protocol, for the
 * testbed. GridWay is not packaged for Debian, so this STAND-IN plays gwd: it
 * starts the real `vonode-gw-im-mad`, sends INIT and DISCOVER as gwd does,
 * MONITORs every host it learns of, and keeps gwd's view — the hosts of the
 * latest DISCOVER line. The MAD, the coordinator and the GW phase it ends are
 * the real ones.
 */
export class GwdStandIn {
  /** Hosts of the latest DISCOVER line. */
  view: string[] = [];
  /** Last MONITOR SUCCESS attributes per host. */
  readonly attributes = new Map<string, string>();
  private readonly hids = new Map<string, string>();
  private proc: ChildProcessWithoutNullStreams | undefined;
  private discoverWaiters: Array<(hosts: string[]) => void> = [];
  private initDone: (() => void) | undefined;
  private readonly log: WriteStream;

  /** `argv` runs the MAD (e.g. inside the frontend's namespace); the protocol dialogue goes to `logFile`. */
  constructor(private readonly argv: readonly string[], logFile: string) {
    this.log = createWriteStream(logFile, { flags: 'a' });
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
  }

  /** Asks for DISCOVER (as gwd does every DISCOVERY_INTERVAL) and returns the hosts of the next DISCOVER line. */
  async discover(): Promise<string[]> {
    const next = new Promise<string[]>((r) => this.discoverWaiters.push(r));
    this.send('DISCOVER - - -');
    return this.within(next, 15_000, 'DISCOVER');
  }

  /** FINALIZE, then make sure the MAD is gone. */
  async stop(): Promise<void> {
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
    if (reply.action === 'MONITOR' && reply.result === 'SUCCESS') {
      const host = [...this.hids].find(([, hid]) => hid === reply.hid)?.[0];
      if (host) this.attributes.set(host, reply.info);
    }
    if (reply.action === 'DISCOVER' && reply.result === 'SUCCESS') this.onDiscover(reply.info ? reply.info.split(' ') : []);
  }

  /** gwd adds hosts it did not know and monitors them. */
  private onDiscover(hosts: string[]): void {
    this.view = hosts;
    for (const h of hosts) {
      if (!this.hids.has(h)) {
        this.hids.set(h, String(this.hids.size));
        this.send(`MONITOR ${this.hids.get(h)} ${h} -`);
      }
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
