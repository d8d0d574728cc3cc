/**
 * A real etcd cluster (the Debian `etcd-server` binary, 3.4) on 127.0.0.1 for
 * tests and benchmarks of the highly available coordinator: members can be
 * killed (SIGKILL), frozen (SIGSTOP), thawed (SIGCONT) and restarted on their
 * data dir, always by the PID we started.
 *
 * Timings. The defaults are etcd's own, --heartbeat-interval 100 and
 * --election-timeout 1000 (ms), on purpose: these runs share a loaded 2-core
 * machine with three etcd processes, node, tsx and the code under test, and
 * an etcd that misses its heartbeat deadline because the scheduler or an
 * fsync stalled it triggers a spurious election (a leader change mid-test
 * looks like a bug in the code under test). 1000 ms keeps ~10 heartbeats per
 * election timeout, as the etcd tuning guide advises, while a killed leader is
 * still replaced within 1-2 s, which keeps failover tests short. Shorter
 * values (heartbeatMs/electionMs) suit an idle machine; etcd itself refuses
 * an election timeout below 5 heartbeats. Waits default to 30 s for startup
 * and 20 s for a restart: a cold start of three members under load takes a
 * few seconds, a stuck one is better reported with its log than waited for.
 *
 * Logs. Each member's stdout and stderr (zap JSON lines) are appended to
 * `<logDir>/<name>.log`, across restarts. close() removes the member data
 * dirs it created; the logs are kept when a failure was reported (or `keep`
 * is set, or VONODE_KEEP_ETCD=1) and the path is in every error message.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import { TestbedProcess } from './testbed-process.js';
import { until } from './wait.js';

export interface EtcdClusterOptions {
  /** Number of members (default 3). */
  members?: number;
  /** Parent of the data dirs and logs; left in place by close(). Default: a fresh mkdtemp under os.tmpdir(). */
  dir?: string;
  /** --heartbeat-interval in ms (default 100). */
  heartbeatMs?: number;
  /** --election-timeout in ms (default 1000; at least 5 × heartbeatMs). */
  electionMs?: number;
  /** Where the member logs go (default `<dir>/logs`). */
  logDir?: string;
  /** --max-txn-ops; etcd's default (128) unless given. */
  maxTxnOps?: number;
  /** The etcd binary (default $VONODE_ETCD_BIN or "etcd" on PATH). */
  etcdBin?: string;
  /** More flags for every member, e.g. ['--pre-vote']. */
  extraArgs?: readonly string[];
  /** How long start() waits for every member to be healthy (default 30 s). */
  startTimeoutMs?: number;
  /** Keep data dirs and logs after close() (default: VONODE_KEEP_ETCD=1). */
  keep?: boolean;
}

/**
 * running: started and not frozen; stopped: frozen by stop() (SIGSTOP);
 * killed: killed by kill() or close(); exited: died on its own.
 */
export type EtcdMemberState = 'running' | 'stopped' | 'killed' | 'exited';

export interface EtcdMemberInfo {
  index: number;
  name: string;
  /** http://127.0.0.1:P, as given to clients. */
  clientUrl: string;
  peerUrl: string;
  /** etcd's member ID (decimal, as in the JSON gateway), once the cluster has come up. */
  id: string | undefined;
  dataDir: string;
  logFile: string;
  /** PID of the current process (undefined before the first start). */
  pid: number | undefined;
  state: EtcdMemberState;
}

interface Member {
  index: number;
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  id: string | undefined;
  proc: TestbedProcess | undefined;
  /** We sent SIGKILL (kill/close), so an exit is expected. */
  killed: boolean;
  /** We sent SIGSTOP and no SIGCONT since. */
  frozen: boolean;
}

const DEFAULT_HEARTBEAT_MS = 100;
const DEFAULT_ELECTION_MS = 1000;
const DEFAULT_START_TIMEOUT_MS = 30_000;
const DEFAULT_RESTART_TIMEOUT_MS = 20_000;
/** How long one HTTP probe (/health, /v3/maintenance/status) may take. */
const PROBE_TIMEOUT_MS = 1500;
const LOG_TAIL_CHARS = 1500;

const url = (port: number): string => `http://127.0.0.1:${port}`;

/** Every live cluster, so an exiting test process never leaves etcd behind. */
const live = new Set<EtcdCluster>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.killAllSync();
  });
}

export class EtcdCluster {
  private closed = false;
  private failed = false;

  private constructor(
    private readonly members: Member[],
    private readonly baseDir: string,
    private readonly ownsBaseDir: boolean,
    private readonly logDir: string,
    private readonly argvFor: (m: Member, state: 'new' | 'existing') => string[],
    private readonly keep: boolean,
  ) {}

  /** Starts a fresh cluster and resolves once every member reports healthy. */
  static async start(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const n = opts.members ?? 3;
    if (!Number.isInteger(n) || n < 1) throw new Error(`EtcdCluster: members must be a positive integer, not ${n}`);
    const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    const electionMs = opts.electionMs ?? DEFAULT_ELECTION_MS;
    if (electionMs < 5 * heartbeatMs) throw new Error(`EtcdCluster: electionMs (${electionMs}) must be at least 5 × heartbeatMs (${heartbeatMs}); etcd refuses to start otherwise`);
    const ownsBaseDir = opts.dir === undefined;
    const baseDir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'vonode-etcd-')));
    await mkdir(baseDir, { recursive: true });
    const logDir = opts.logDir ?? path.join(baseDir, 'logs');
    await mkdir(logDir, { recursive: true });

    const ports = new Set<number>();
    while (ports.size < 2 * n) ports.add(await freePort());
    const [clientPorts, peerPorts] = [[...ports].slice(0, n), [...ports].slice(n)];
    const token = `vonode-test-${randomUUID()}`;
    const members: Member[] = Array.from({ length: n }, (_, i) => {
      const name = `m${i}`;
      return { index: i, name, clientPort: clientPorts[i]!, peerPort: peerPorts[i]!, dataDir: path.join(baseDir, `${name}.etcd`), logFile: path.join(logDir, `${name}.log`), id: undefined, proc: undefined, killed: false, frozen: false };
    });
    const initialCluster = members.map((m) => `${m.name}=${url(m.peerPort)}`).join(',');
    // etcd also reads ETCD_* variables; a stray one in the caller's environment must not change the cluster.
    const scrub = Object.keys(process.env).filter((k) => k.startsWith('ETCD_'));
    const bin = opts.etcdBin ?? process.env['VONODE_ETCD_BIN'] ?? 'etcd';
    const argvFor = (m: Member, state: 'new' | 'existing'): string[] => [
      ...(scrub.length ? ['env', ...scrub.flatMap((k) => ['-u', k])] : []),
      bin,
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${url(m.clientPort)}`,
      `--advertise-client-urls=${url(m.clientPort)}`,
      `--listen-peer-urls=${url(m.peerPort)}`,
      `--initial-advertise-peer-urls=${url(m.peerPort)}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=${token}`,
      `--heartbeat-interval=${heartbeatMs}`,
      `--election-timeout=${electionMs}`,
      ...(opts.maxTxnOps !== undefined ? [`--max-txn-ops=${opts.maxTxnOps}`] : []),
      '--logger=zap',
      '--log-outputs=stderr',
      ...(opts.extraArgs ?? []),
    ];

    const cluster = new EtcdCluster(members, baseDir, ownsBaseDir, logDir, argvFor, opts.keep ?? process.env['VONODE_KEEP_ETCD'] === '1');
    live.add(cluster);
    installExitHook();
    try {
      for (const m of members) cluster.spawn(m, 'new');
      await cluster.waitHealthy(undefined, opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
      for (const m of members) m.id = (await cluster.status(m))?.memberId;
    } catch (e) {
      cluster.failed = true;
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /** The client URLs, http://127.0.0.1:P, in member order. */
  endpoints(): string[] {
    return this.members.map((m) => url(m.clientPort));
  }

  member(i: number): EtcdMemberInfo {
    const m = this.at(i);
    return { index: m.index, name: m.name, clientUrl: url(m.clientPort), peerUrl: url(m.peerPort), id: m.id, dataDir: m.dataDir, logFile: m.logFile, pid: m.proc?.pid, state: this.state(m) };
  }

  /** SIGKILL by PID (a crash); resolves once the process has exited. */
  async kill(i: number): Promise<void> {
    const m = this.at(i);
    if (!m.proc?.running) return;
    m.killed = true;
    await m.proc.stop(5_000, 'SIGKILL');
    m.frozen = false;
  }

  /** SIGSTOP by PID: the member keeps its sockets but answers nothing. Resolves once the kernel shows it stopped. */
  async stop(i: number): Promise<void> {
    const m = this.at(i);
    const pid = this.livePid(m, 'stop');
    process.kill(pid, 'SIGSTOP');
    m.frozen = true;
    await this.untilProcState(m, pid, (s) => s === 'T' || s === 't', 'stopped');
  }

  /** SIGCONT by PID. Resolves once the kernel shows it running again (not necessarily healthy: see waitHealthy). */
  async cont(i: number): Promise<void> {
    const m = this.at(i);
    const pid = this.livePid(m, 'continue');
    process.kill(pid, 'SIGCONT');
    m.frozen = false;
    await this.untilProcState(m, pid, (s) => s !== 'T' && s !== 't', 'continued');
  }

  /**
   * Starts member i again on its data dir (--initial-cluster-state existing),
   * killing it first if it still runs, and waits until it is healthy (which
   * needs a quorum: pass waitHealthy false when restarting the first of too
   * many dead members).
   */
  async restart(i: number, { waitHealthy = true, timeoutMs = DEFAULT_RESTART_TIMEOUT_MS }: { waitHealthy?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const m = this.at(i);
    if (this.closed) throw new Error('EtcdCluster is closed');
    await this.kill(i);
    this.spawn(m, 'existing');
    if (waitHealthy) await this.waitHealthy(i, timeoutMs);
  }

  /**
   * Waits until member i (or every member that is running: neither killed,
   * exited nor stopped) answers /health with {"health":"true"}, which in etcd
   * 3.4 also means the cluster has a leader and serves a linearizable read.
   * Throws with the members' log tails if time runs out or a member exits.
   */
  async waitHealthy(i?: number, timeoutMs = DEFAULT_RESTART_TIMEOUT_MS): Promise<void> {
    const targets = i === undefined ? this.members.filter((m) => this.state(m) === 'running') : [this.at(i)];
    for (const m of targets) if (this.state(m) !== 'running') throw await this.failure(`${m.name} is ${this.state(m)}, so it cannot become healthy`, [m]);
    try {
      await until(
        `etcd ${targets.map((m) => m.name).join(', ')} healthy`,
        async () => {
          const dead = targets.find((m) => !m.proc?.running);
          if (dead) throw new Error(`${dead.name} exited (${this.state(dead)})`);
          const ok = await Promise.all(targets.map((m) => this.healthOf(m)));
          return ok.every(Boolean);
        },
        timeoutMs,
        200,
      );
    } catch (e) {
      throw await this.failure((e as Error).message, targets);
    }
  }

  /** One /health probe of member i: true when it answers {"health":"true"} within 1.5 s. */
  async health(i: number): Promise<boolean> {
    return this.healthOf(this.at(i));
  }

  /**
   * The index of the current leader as seen by the running members (via the
   * JSON gateway's /v3/maintenance/status), or undefined when none of them
   * knows one.
   */
  async leader(): Promise<number | undefined> {
    for (const m of this.members) {
      if (this.state(m) !== 'running') continue;
      const s = await this.status(m);
      if (s?.leader === undefined) continue;
      const idx = this.members.findIndex((x) => x.id === s.leader);
      if (idx >= 0) return idx;
    }
    return undefined;
  }

  /** The last `chars` characters of member i's log. */
  async logTail(i: number, chars = LOG_TAIL_CHARS): Promise<string> {
    return (await readFile(this.at(i).logFile, 'utf8').catch(() => '')).slice(-chars);
  }

  /**
   * Kills every member by PID and removes the data dirs it created (unless
   * kept; the logs are kept too when a failure was reported). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    await Promise.all(this.members.map((m) => this.kill(m.index).catch(() => undefined)));
    if (this.keep) return;
    if (this.ownsBaseDir && !this.failed) {
      await rm(this.baseDir, { recursive: true, force: true });
    } else {
      // a caller's dir, or logs to keep for a post-mortem: only the data dirs go
      await Promise.all(this.members.map((m) => rm(m.dataDir, { recursive: true, force: true })));
    }
  }

  /** @internal For the process 'exit' hook: SIGKILL every member we started, synchronously. */
  killAllSync(): void {
    for (const m of this.members) {
      const pid = m.proc?.pid;
      if (pid !== undefined && m.proc?.running) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  private at(i: number): Member {
    const m = this.members[i];
    if (!m) throw new RangeError(`EtcdCluster has members 0..${this.members.length - 1}, not ${i}`);
    return m;
  }

  private state(m: Member): EtcdMemberState {
    if (!m.proc?.running) return m.killed || !m.proc ? 'killed' : 'exited';
    return m.frozen ? 'stopped' : 'running';
  }

  private spawn(m: Member, state: 'new' | 'existing'): void {
    m.killed = false;
    m.frozen = false;
    m.proc = new TestbedProcess(`etcd ${m.name}`, this.argvFor(m, state), m.logFile);
    m.proc.start();
  }

  private livePid(m: Member, what: string): number {
    const pid = m.proc?.pid;
    if (pid === undefined || !m.proc?.running) throw new Error(`cannot ${what} etcd ${m.name}: it is ${this.state(m)}`);
    return pid;
  }

  /** Waits for the process state letter in /proc/<pid>/stat (Linux) to satisfy `ok`. */
  private async untilProcState(m: Member, pid: number, ok: (state: string) => boolean, what: string): Promise<void> {
    try {
      await until(`etcd ${m.name} ${what}`, async () => {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
        if (stat === undefined) return true; // no procfs (or gone): nothing to wait for
        return ok(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
      }, 5_000, 20);
    } catch (e) {
      throw await this.failure((e as Error).message, [m]);
    }
  }

  private async healthOf(m: Member): Promise<boolean> {
    try {
      const res = await fetch(`${url(m.clientPort)}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      const body = (await res.json()) as { health?: unknown };
      return body.health === 'true';
    } catch {
      return false;
    }
  }

  /** Maintenance.Status through the JSON gateway (uint64 fields come as decimal strings; zero fields are left out). */
  private async status(m: Member): Promise<{ memberId: string; leader: string | undefined } | undefined> {
    try {
      const res = await fetch(`${url(m.clientPort)}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
      if (!body.header?.member_id) return undefined;
      return { memberId: body.header.member_id, leader: body.leader && body.leader !== '0' ? body.leader : undefined };
    } catch {
      return undefined;
    }
  }

  /** An Error naming `what`, with the state and log tail of `focus` (or every member). */
  private async failure(what: string, focus: readonly Member[] = this.members): Promise<Error> {
    this.failed = true;
    const parts = await Promise.all(
      focus.map(async (m) => `--- ${m.name} (${this.state(m)}, pid ${m.proc?.pid ?? '-'}, ${url(m.clientPort)}) ${m.logFile}:\n${await this.logTail(m.index)}`),
    );
    return new Error(`EtcdCluster: ${what}; logs in ${this.logDir}\n${parts.join('\n')}`);
  }
}
