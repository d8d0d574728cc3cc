import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { systemClock, type Clock } from '../../shared/clock.js';
import { NodeState, type Host, type Node } from '../../shared/gen/vonode/v1/coordinator.js';
import type { Logger } from '../../shared/logger.js';
import { RpcCallError } from '../../shared/rpc/grpc-call.js';
import { GwdHostBook, type GwdPush } from './gwd-host-book.js';
import { describeNode, hostAttributes, nodeAvailability, voFactsFromPolicy, type AttributeOptions } from './host-attributes.js';
import { discoverSuccess, failureReply, finalizeSuccess, initSuccess, isReportableHostname, monitorSuccess, parseRequest, type ImAction, type RequestError } from './im-protocol.js';
import { LineWriter } from './line-writer.js';
import { NodeWatch, type NodeWatchOptions } from './node-watch.js';
import type { SiteReader } from './site-reader.js';

/** How the MAD answers; main.ts compiles them from the command line. */
export interface ImMadOptions extends AttributeOptions {
  /** Deadline of the coordinator calls behind one request; past it (plus 1 s of grace) the request is answered FAILURE. */
  requestTimeoutMs: number;
  /** Reconnection timing of the event stream that drives pushes. */
  watch: NodeWatchOptions;
  /** gwd's host ids kept across restarts of this MAD by the same gwd (absent: kept in memory only). */
  idMemory?: { load(): Map<string, string>; save(ids: ReadonlyMap<string, string>): boolean };
}

/** The session's streams: gwd's requests in, replies out (stdin/stdout in production, pipes in tests). */
export interface ImMadIo {
  input: Readable;
  output: Writable;
}

/** Why a session ended: FINALIZE answered, gwd closed our stdin or stdout, or shutdown() was called. */
export type ImMadEnd = 'finalize' | 'eof' | 'output-closed' | 'shutdown';

/** Lifecycle: `idle` until start(), `running`, `stopped` once ended (for whatever ImMadEnd). */
export type ImMadState = 'idle' | 'running' | 'stopped';

/** A request waiting for its one answer. */
interface Pending {
  action: ImAction;
  hid: string;
  timer: NodeJS.Timeout;
}

type Answer = { lines: string[]; after?: () => void };

/**
 * One GridWay IM MAD session (DESIGN §6). Every parseable request is answered
 * exactly once (a coordinator that is down or slow gives FAILURE, never
 * silence); MONITOR replies only go to host ids gwd asked about; INIT is
 * answered SUCCESS at once without touching the coordinator (gwd exits on an
 * INIT FAILURE). After INIT the coordinator's events are followed and a node
 * that becomes running is pushed: as an unsolicited `DISCOVER - SUCCESS
 * <node>` to a gwd that has no id for its hostname, as an unsolicited
 * MONITOR reply with its attributes to the id gwd gave it otherwise (and so
 * when it leaves). The GW phase ends when gwd holds a free slot for the node.
 */
export class ImMad {
  private stateValue: ImMadState = 'idle';
  private readonly pending = new Set<Pending>();
  private readonly book = new GwdHostBook();
  private readonly writer: LineWriter;
  private readonly watch: NodeWatch;
  private lines: Interface | undefined;
  private initialized = false;
  private finish: (end: ImMadEnd) => void = () => undefined;
  private readonly ended: Promise<ImMadEnd>;

  constructor(
    private readonly io: ImMadIo,
    private readonly reader: SiteReader,
    private readonly logger: Logger,
    private readonly options: ImMadOptions,
    private readonly clock: Clock = systemClock,
  ) {
    this.ended = new Promise((resolve) => (this.finish = resolve));
    this.book.remember(options.idMemory?.load() ?? new Map());
    this.writer = new LineWriter(io.output, (err) => this.end('output-closed', err?.message));
    this.watch = new NodeWatch(reader, {
      resync: (nodes) => this.push(this.book.resync(nodes)),
      node: (node) => this.push(this.book.observe(node)),
      removed: (hostname) => this.book.removed(hostname),
    }, logger.child({ part: 'watch' }), options.watch, clock);
  }

  /** Where the session stands. */
  get state(): ImMadState {
    return this.stateValue;
  }

  /** Starts reading requests; resolves when the session ends (never rejects). */
  start(): Promise<ImMadEnd> {
    if (this.stateValue !== 'idle') return this.ended;
    this.stateValue = 'running';
    this.lines = createInterface({ input: this.io.input, crlfDelay: Infinity, terminal: false });
    this.lines.on('line', (line) => {
      try {
        this.onLine(line);
      } catch (e) {
        // A bug must not take the MAD down: gwd would reload it and lose every pending answer.
        this.logger.error({ err: e, line: line.slice(0, 200) }, 'request handling failed');
      }
    });
    this.lines.on('close', () => this.end('eof'));
    // readline re-emits errors of its input; unhandled, one would crash the MAD.
    this.lines.on('error', (err: Error) => this.end('eof', err.message));
    return this.ended;
  }

  /** Ends the session without answering what is pending (gwd is gone or the process is stopping). */
  async shutdown(): Promise<void> {
    this.end('shutdown');
    await this.ended;
    await this.watch.shutdown();
  }

  private onLine(line: string): void {
    if (this.stateValue !== 'running') return;
    const parsed = parseRequest(line);
    if (!parsed.ok) return this.malformed(parsed.error, line);
    const req = parsed.request;
    this.logger.debug({ request: line }, 'request');
    switch (req.action) {
      case 'INIT':
        this.writer.write(initSuccess());
        if (!this.initialized) this.watch.start();
        this.initialized = true;
        return;
      case 'DISCOVER':
        return this.answer('DISCOVER', '-', () => this.discover());
      case 'MONITOR':
        return this.answer('MONITOR', req.hid, () => this.monitor(req.hid, req.hostname));
      case 'FINALIZE':
        for (const p of [...this.pending]) this.settle(p, { lines: [failureReply(p.action, 'the MAD was finalized before the coordinator answered', p.hid)] });
        this.writer.write(finalizeSuccess());
        return this.end('finalize');
    }
  }

  /** Answers a malformed line with a FAILURE of its action when that can be told; otherwise only logs it. */
  private malformed(error: RequestError, line: string): void {
    const answerable = error.action !== undefined && (error.action !== 'MONITOR' || error.hid !== undefined);
    this.logger.warn({ line: line.slice(0, 200), reason: error.reason, answered: answerable }, `malformed request from gwd: ${error.message}`);
    if (answerable) this.writer.write(failureReply(error.action!, `malformed request: ${error.message}`, error.hid ?? '-'));
  }

  /** Runs `work` for one request and writes its answer once, or FAILURE if it throws or outlives the deadline. */
  private answer(action: ImAction, hid: string, work: () => Promise<Answer>): void {
    const graceMs = this.options.requestTimeoutMs + 1000;
    // A failed DISCOVER opens pushes too: gwd then knows no node, so each one that becomes running must be pushed.
    const after = action === 'DISCOVER' ? () => this.push(this.book.discovered([])) : undefined;
    const failed = (why: string): Answer => ({ lines: [failureReply(action, why, hid)], ...(after ? { after } : {}) });
    const p: Pending = {
      action, hid,
      timer: setTimeout(() => this.settle(p, failed(`no answer from the coordinator within ${graceMs} ms`)), graceMs),
    };
    this.pending.add(p);
    work().then(
      (answer) => this.settle(p, answer),
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        this.logger.warn({ action, hid, err: message }, 'answering FAILURE');
        this.settle(p, failed(err instanceof RpcCallError ? `coordinator unavailable: ${message}` : `cannot answer: ${message}`));
      },
    );
  }

  private settle(p: Pending, answer: Answer): void {
    if (!this.pending.delete(p)) return; // already answered (deadline) or the session ended
    clearTimeout(p.timer);
    for (const line of answer.lines) this.writer.write(line);
    answer.after?.();
  }

  private async discover(): Promise<Answer> {
    const nodes = await this.reader.listNodes(this.options.requestTimeoutMs);
    const running = nodes.filter((n) => n.state === NodeState.NODE_STATE_RUNNING && isReportableHostname(n.hostname));
    return { lines: discoverSuccess(running.map((n) => n.hostname)), after: () => this.push(this.book.discovered(running)) };
  }

  private async monitor(hid: string, hostname: string): Promise<Answer> {
    // gwd's own id for this host: its later changes can be pushed to it (never to an id gwd did not give).
    if (this.book.learn(hostname, hid)) this.options.idMemory?.save(this.book.ids());
    const t = this.options.requestTimeoutMs;
    const [nodes, hosts, policy] = await Promise.all([this.reader.listNodes(t), this.reader.listHosts(t), this.reader.policyText(t)]);
    const line = this.monitorLine(hid, hostname, nodes, hosts, policy);
    if (!line) return { lines: [failureReply('MONITOR', `${hostname} is not a vonode node of this site`, hid)] };
    const node = nodes.find((n) => n.hostname === hostname);
    if (node) this.book.asked(node);
    return { lines: [line], after: () => this.reportSchedulable([hostname], nodes) };
  }

  /** gwd's MONITOR reply for a host: its node's attributes, or a removed node's (gwd keeps every host: no free node); undefined if never ours. */
  private monitorLine(hid: string, hostname: string, nodes: readonly Node[], hosts: readonly Host[], policy: string): string | undefined {
    const vos = voFactsFromPolicy(policy);
    const node = nodes.find((n) => n.hostname === hostname);
    if (node) {
      const facts = hosts.find((h) => h.name === node.host)?.facts;
      return monitorSuccess(hid, hostAttributes(describeNode(node, nodeAvailability(node.state), vos, facts), this.options));
    }
    const last = this.book.lastKnown(hostname);
    return last && monitorSuccess(hid, hostAttributes(describeNode({ ...last, host: '' }, 'removed', vos), this.options));
  }

  /** Ends the GW phase of nodes gwd now holds free slots for (once per node incarnation); best effort. */
  private reportSchedulable(hostnames: readonly string[], nodes: readonly Node[]): void {
    const ready = hostnames.filter((h) => nodes.find((n) => n.hostname === h)?.state === NodeState.NODE_STATE_RUNNING && this.book.markSchedulable(h));
    if (ready.length === 0) return;
    this.reader.reportShown(ready, this.options.requestTimeoutMs, 'schedulable').catch((e: unknown) => this.logger.debug({ err: String(e) }, 'could not report schedulable nodes'));
  }

  /**
   * Tells gwd about nodes that became running, or left (unsolicited replies;
   * only after INIT): a DISCOVER line for a host gwd has not given us an id
   * for (gwd monitors a new host on its next pass), a MONITOR reply with the
   * current attributes for one it has (gwd applies it at once, where a
   * DISCOVER of a known host would leave it waiting for its monitoring
   * interval).
   */
  private push(hostnames: string[]): void {
    if (hostnames.length === 0 || !this.initialized || this.stateValue !== 'running') return;
    const pushes = this.book.pushesFor(hostnames);
    const discover = pushes.filter((p) => p.kind === 'discover').map((p) => p.hostname);
    if (discover.length) {
      for (const line of discoverSuccess(discover)) this.writer.write(line);
      this.logger.info({ hosts: discover, at: this.clock.nowMs() }, 'pushed DISCOVER to gwd');
      this.reader.reportShown(discover, this.options.requestTimeoutMs, 'discover_pushed').catch((e: unknown) => this.logger.debug({ err: String(e) }, 'could not report the push'));
    }
    const monitors = pushes.filter((p): p is Extract<GwdPush, { kind: 'monitor' }> => p.kind === 'monitor');
    if (monitors.length) void this.pushMonitors(monitors);
  }

  /**
   * MONITOR replies gwd did not ask for, to ids gwd gave. gwd applies each
   * with gw_host_update (gw_im_listener.c) and decrements its count of active
   * IM queries, as for any reply (a DISCOVER push did the same). The count
   * only gates how many MONITORs gwd sends at once (max_active_im_queries,
   * in gw_host_pool_monitor_hosts); driven below zero it stops capping them,
   * but gwd still asks each host at most once per monitoring interval, so its
   * load on this MAD stays at most one MONITOR per host per interval. Pushes
   * happen once per node state change (one line each), never periodically.
   */
  private async pushMonitors(pushes: ReadonlyArray<Extract<GwdPush, { kind: 'monitor' }>>): Promise<void> {
    const t = this.options.requestTimeoutMs;
    let read: [Node[], Host[], string];
    try {
      read = await Promise.all([this.reader.listNodes(t), this.reader.listHosts(t), this.reader.policyText(t)]);
    } catch (e) {
      // gwd monitors these hosts on its own schedule; only the early update is lost.
      this.logger.warn({ hosts: pushes.map((p) => p.hostname), err: String(e) }, 'could not read the nodes to push their attributes to gwd');
      return;
    }
    if (this.stateValue !== 'running') return;
    const [nodes, hosts, policy] = read;
    const shown: string[] = [];
    for (const p of pushes) {
      const line = this.monitorLine(p.hid, p.hostname, nodes, hosts, policy);
      if (!line) continue;
      this.writer.write(line);
      shown.push(p.hostname);
    }
    if (shown.length === 0) return;
    this.logger.info({ hosts: shown, at: this.clock.nowMs() }, 'pushed MONITOR to gwd');
    this.reader.reportShown(shown, t, 'discover_pushed').catch((e: unknown) => this.logger.debug({ err: String(e) }, 'could not report the push'));
    this.reportSchedulable(shown, nodes);
  }

  private end(end: ImMadEnd, detail?: string): void {
    if (this.stateValue === 'stopped') return;
    this.stateValue = 'stopped';
    for (const p of this.pending) clearTimeout(p.timer);
    this.pending.clear();
    this.lines?.close();
    void this.watch.shutdown().finally(() => this.reader.close());
    this.logger.info({ end, ...(detail ? { detail } : {}) }, 'session ended');
    this.finish(end);
  }
}
