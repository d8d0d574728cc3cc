import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseReply, type ImAction, type ImReply } from '../../coordinator/gridway/im-protocol.js';
import { repoNode } from '../../scripts/testbed/lib/testbed-process.js';
import { cleanEnv, ROOT } from './run-vonode-cli.js';

/** How to start the MAD under test. */
export interface GwdHarnessOptions {
  /** gwd.conf's IM_MAD args field: passed as ONE argv entry, as gwd does (execlp(exe, exe, args, NULL)). */
  args: string;
  /** Extra environment (VONODE_* of the test's process are dropped first). */
  env?: Record<string, string>;
  /** A request unanswered for this long fails the test (default 15 s). */
  replyTimeoutMs?: number;
}

/** A reply line as received, with when (performance.now() and Date.now()). */
export interface ReceivedLine {
  line: string;
  reply: ImReply;
  atMs: number;
  wallMs: number;
}

interface Outstanding {
  action: ImAction;
  hid: string;
  line: string;
  resolve: (r: ReceivedLine) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * gwd's side of the IM MAD protocol (DESIGN §6), strict: it starts the real
 * vonode-gw-im-mad process, writes requests on its stdin and reads its stdout
 * line by line like gwd's listener, keeping gwd's host pool (hostname → host
 * id, allocated as DISCOVER lines name new hosts). Every reply is checked with
 * im-protocol's parser, and a violation fails the waiting request at once and
 * is kept for assertClean(): a malformed line; anything before the INIT
 * reply; a reply to a request not asked (MONITOR for a hid not being
 * monitored, a second INIT answer, …); a MONITOR for a hid gwd does not
 * have; an unsolicited DISCOVER that is not SUCCESS; a request left
 * unanswered past the timeout; the MAD exiting before FINALIZE.
 */
export class GwdHarness {
  /** Everything the MAD did wrong, in order. */
  readonly violations: string[] = [];
  /** Unsolicited DISCOVER lines (pushes), in order. */
  readonly pushes: ReceivedLine[] = [];
  /** gwd's host pool: hostname → host id. */
  readonly hosts = new Map<string, number>();
  private readonly outstanding: Outstanding[] = [];
  private readonly stderrTail: string[] = [];
  private proc: ChildProcessWithoutNullStreams | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  private initAnswered = false;
  private finalizing = false;
  private pushWaiters: Array<() => void> = [];

  constructor(private readonly options: GwdHarnessOptions) {}

  /** Starts the MAD (it is not sent anything yet). */
  start(): void {
    const [node, ...argv] = repoNode('coordinator/gridway/main.ts', [this.options.args]);
    const proc = spawn(node!, argv, {
      cwd: ROOT, env: cleanEnv(this.options.env ?? {}),
    });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    void this.exited.then((code) => {
      if (!this.finalizing) this.violate(`the MAD exited (code ${code}) before FINALIZE`);
    });
    createInterface({ input: proc.stdout, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
    createInterface({ input: proc.stderr, crlfDelay: Infinity }).on('line', (line) => {
      this.stderrTail.push(line.slice(0, 500));
      if (this.stderrTail.length > 300) this.stderrTail.splice(0, 100);
    });
    proc.stdin.on('error', () => undefined); // EPIPE after the MAD exited: reported as a violation already
  }

  /** `INIT - - -`. */
  init(): Promise<ReceivedLine> {
    return this.request('INIT - - -', 'INIT', '-');
  }

  /** `DISCOVER - - -`; the next DISCOVER line answers it (gwd cannot tell a push from the answer either). */
  discover(): Promise<ReceivedLine> {
    return this.request('DISCOVER - - -', 'DISCOVER', '-');
  }

  /** `MONITOR <hid> <hostname> -`; a hostname not in the pool is added first, as if gwd had it from an earlier MAD. */
  monitor(hostname: string): Promise<ReceivedLine> {
    const hid = this.hidOf(hostname);
    if (this.outstanding.some((o) => o.action === 'MONITOR' && o.hid === String(hid))) throw new Error(`host ${hid} is already being monitored (gwd never asks twice)`);
    return this.request(`MONITOR ${hid} ${hostname} -`, 'MONITOR', String(hid));
  }

  /** `FINALIZE - - -`; resolves with the reply and the MAD's exit code. */
  async finalize(): Promise<{ reply: ReceivedLine; code: number | null }> {
    this.finalizing = true;
    const reply = await this.request('FINALIZE - - -', 'FINALIZE', '-');
    return { reply, code: await this.exited };
  }

  /** Writes any line. With `expect`, waits for the reply of that action (and hid); without, expects no reply at all. */
  send(line: string, expect?: { action: ImAction; hid?: string }): Promise<ReceivedLine | undefined> {
    if (!expect) {
      this.write(line);
      return Promise.resolve(undefined);
    }
    return this.request(line, expect.action, expect.hid ?? '-');
  }

  /** The host id gwd's pool gives a hostname (allocated on first sight). */
  hidOf(hostname: string): number {
    let hid = this.hosts.get(hostname);
    if (hid === undefined) this.hosts.set(hostname, (hid = this.hosts.size));
    return hid;
  }

  /**
   * Resolves with the first push naming `hostname` received after `sinceMs`
   * (performance.now(); pool hostnames are reused, so a test passes the time
   * it started the deployment); rejects after timeoutMs.
   */
  async waitForPush(hostname: string, timeoutMs: number, sinceMs = 0): Promise<ReceivedLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.pushes.find((p) => p.atMs >= sinceMs && this.pushNames(p, hostname));
      if (found) return found;
      if (this.violations.length) throw new Error(this.report());
      if (Date.now() > deadline) throw new Error(`no DISCOVER push of ${hostname} within ${timeoutMs} ms\n${this.report()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.pushWaiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  /** Whether a push (a DISCOVER listing it, or a MONITOR reply to its id) is about `hostname`. */
  private pushNames(p: ReceivedLine, hostname: string): boolean {
    if (p.reply.action === 'MONITOR') return this.hosts.get(hostname) === Number(p.reply.hid);
    return p.reply.info.split(' ').includes(hostname);
  }

  /** Throws (failing the test) if the MAD broke the protocol at any point. */
  assertClean(): void {
    if (this.violations.length) throw new Error(this.report());
  }

  /** The violations and the MAD's recent stderr, for failure messages. */
  report(): string {
    return `protocol violations:\n  ${this.violations.join('\n  ') || '(none)'}\nMAD stderr (tail):\n  ${this.stderrTail.slice(-30).join('\n  ')}`;
  }

  /** Kills the MAD if it still runs (by PID) and waits for it. */
  async stop(): Promise<void> {
    this.finalizing = true;
    for (const o of this.outstanding.splice(0)) clearTimeout(o.timer);
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      process.kill(proc.pid!, 'SIGKILL');
      await this.exited;
    }
  }

  private request(line: string, action: ImAction, hid: string): Promise<ReceivedLine> {
    const timeoutMs = this.options.replyTimeoutMs ?? 15_000;
    return new Promise((resolve, reject) => {
      const o: Outstanding = {
        action, hid, line, resolve, reject,
        timer: setTimeout(() => {
          this.violate(`no reply to "${line}" within ${timeoutMs} ms (gwd would wait forever)`);
        }, timeoutMs),
      };
      this.outstanding.push(o);
      this.write(line);
    });
  }

  private write(line: string): void {
    if (!this.proc) throw new Error('start() the harness first');
    this.proc.stdin.write(`${line}\n`);
  }

  private onLine(line: string): void {
    const at: Omit<ReceivedLine, 'reply'> = { line, atMs: performance.now(), wallMs: Date.now() };
    let reply: ImReply;
    try {
      reply = parseReply(line);
    } catch (e) {
      return this.violate(`malformed reply ${JSON.stringify(line.slice(0, 120))}: ${(e as Error).message}`);
    }
    const received = { ...at, reply };
    if (!this.initAnswered && reply.action !== 'INIT') return this.violate(`"${line.slice(0, 80)}" before the INIT reply (gwd reads exactly one line after INIT)`);
    if (reply.action === 'MONITOR' && ![...this.hosts.values()].includes(Number(reply.hid))) {
      return this.violate(`MONITOR reply for host ${reply.hid}, which gwd does not have`);
    }
    const i = this.outstanding.findIndex((o) => o.action === reply.action && o.hid === reply.hid);
    if (reply.action === 'DISCOVER' && reply.result === 'SUCCESS' && reply.info) for (const h of reply.info.split(' ')) this.hidOf(h);
    if (i < 0) {
      // gwd applies unsolicited DISCOVER and MONITOR replies (gw_im_listener.c); a MONITOR to an id it has (checked above).
      if (reply.action !== 'DISCOVER' && reply.action !== 'MONITOR') return this.violate(`unsolicited ${reply.action} reply "${line.slice(0, 80)}" (nothing asked)`);
      if (reply.result !== 'SUCCESS') return this.violate(`unsolicited ${reply.action} FAILURE "${line.slice(0, 80)}"`);
      this.pushes.push(received);
      for (const w of this.pushWaiters.splice(0)) w();
      return;
    }
    const [o] = this.outstanding.splice(i, 1);
    clearTimeout(o!.timer);
    if (reply.action === 'INIT') this.initAnswered = true;
    o!.resolve(received);
  }

  private violate(message: string): void {
    this.violations.push(message);
    const report = this.report();
    for (const o of this.outstanding.splice(0)) {
      clearTimeout(o.timer);
      o.reject(new Error(`while waiting for the reply to "${o.line}": ${report}`));
    }
  }
}
