// Failover of the HA coordinator on etcd: how long a site whose leader dies
// (SIGKILL) with deployments in flight is without a coordinator acting, and
// whether anything is lost or doubled on the way. Every run starts a FRESH
// site (scripts/testbed/lib/ha-site.ts HaSite: a REAL 3-member etcd cluster,
// --coordinators REAL vonode-coordinator processes on store.etcd, supervised
// as their systemd unit would (started again 500 ms after they exit),
// --agents REAL vonode-agent processes on the SIMULATED hypervisor driver
// (no VM boots; the guest "boots" in --boot-delay); mutual TLS; loopback
// only), so the runs are independent: empty state, fresh processes and
// caches (one reused site would carry the restarted coordinator, leases to
// remove and warm channels from run to run). Per run:
//   1. deploy --deployments nodes through the client following the leader (the
//      stream is consumed in the background; it breaks when the leader dies);
//   2. wait until at least half of them are in flight (the leader's Status:
//      running_operations ≥ ⌈N/2⌉);
//   3. SIGKILL the leader (its supervisor restarts it: it comes back as a
//      standby) and take t0 (monotonic clock) and the wall time of the kill;
//   4. elected_s = t0 → the first moment HaSite.waitForLeader(…, not the old
//      one) succeeds: a coordinator other than the killed one holds the
//      oldest election key in etcd AND its own Status answers role 'leader'
//      (i.e. it has also read the state from etcd); polled every ~100 ms plus
//      a Status call, so it is an upper bound that can even come out a little
//      after failover_s (the new leader's own "elected leader" log line, in
//      the breakdown below, is the precise moment);
//   5. failover_s = t0 → the new leader DISPATCHING, observed as: the first
//      `phase` event (an agent phase of a new attempt: CR of a deployment
//      dispatched again, or a phase of a removal of an orphan domain) that
//      arrives on a WatchEvents stream opened on the future leader BEFORE the
//      kill, and that the agent stamped (PhaseEvent.unix_ms) after the kill.
//      While a standby, that coordinator republishes the leader's writes
//      from etcd; after the kill nobody writes until the new leader acts, and
//      the unix_ms filter drops a write of the dead leader delivered late.
//      (Every surviving coordinator is watched; the new leader's stream is
//      the one used.);
//   6. wait (--settle-timeout, 120 s) until every deployment ended: no open
//      operation in etcd, every lease running; then audit the site
//      (HaSite.audit: etcd leases and open operations against every agent's
//      domains and DHCP reservations) and read ops/done from etcd:
//      completed = deploy operations that ended succeeded; leaked_triples,
//      doubled_triples, orphan_domains = lengths of the audit's lists.
// Where the failover time went is read from the new leader's and the
// agents' logs (pino JSON, wall-clock `time`), as seconds after the kill:
// elected (its "elected leader" line: the old lease expired in etcd and the
// election watch fired), state read ("leading: state read from etcd"), agents
// registered with it (first / all), orphans collected, first attempt started.
// Targets: failover median < 3 s with lease TTL 2 s; leaked, doubled and
// orphans 0; completed = deployments in every run.
//
// With --scale-agents K (default 500; 0 skips) it then runs the coordinator
// scale benchmark (scripts/bench/coordinator-scale.ts) twice as child
// processes, --store sqlite and --store etcd, each with --agents K --nodes
// --scale-nodes (1000) and its own --json, and compares registration time,
// dispatch-pass p99 and coordinator RSS: target etcd within 2× SQLite.
//
// Usage: npm run bench:failover -- [--runs 5] [--coordinators 2] [--agents 4] [--deployments 20]
//   [--boot-delay 3s] [--lease-ttl 2s] [--settle-timeout 120] [--scale-agents 500] [--scale-nodes 1000]
//   [--json FILE] [--keep]
// --json FILE writes (seconds as numbers, one array element per run, null where not measured): runs,
// coordinators, agents, lease_ttl_s, boot_delay_s, deployments, in_flight_at_kill[], completed[],
// failover_s[], elected_s[], leaked_triples[], doubled_triples[], orphan_domains[], orphan_reservations[],
// settle_s[], failover_median_s, failover_max_s, elected_median_s, breakdown[] (per run, seconds after
// the kill), and with the scale comparison register_s, dispatch_p99_ms, rss_mb (etcd),
// sqlite_register_s, sqlite_dispatch_p99_ms, sqlite_rss_mb, register_ratio, dispatch_p99_ratio,
// rss_ratio (etcd / SQLite), deploy_wall_s and sqlite_deploy_wall_s (no target), scale_agents, scale_nodes.
// Logs: each run's daemon output goes to <work dir>/run-N.log and each scale run's to
// <work dir>/scale-STORE.log; the work dir is removed at the end unless --keep or a target was missed.
// --keep also keeps every run's site dir (PKI, configs, agent state) and the scale runs' dirs.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MAX_DEPLOY_COUNT } from '../../coordinator/api/request-limits.js';
import { KEYS } from '../../coordinator/store/etcd/etcd-keys.js';
import type { OperationRecord } from '../../coordinator/store/records.js';
import { systemClock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { Edge, Phase } from '../../shared/gen/vonode/v1/common.js';
import type { CoordinatorEvent } from '../../shared/gen/vonode/v1/coordinator.js';
import { HaSite, type HaCoordinator, type SiteAudit } from '../testbed/lib/ha-site.js';
import { until } from '../testbed/lib/wait.js';
import { parseBenchArgs, usageError as benchUsageError } from './lib/bench-cli.js';
import { finiteOrNull, writeBenchJson } from './lib/bench-json.js';
import { BenchReport, secs } from './lib/bench-report.js';
import { ROOT } from './lib/bench-site.js';

const USAGE = 'usage: failover.ts [--runs N (5)] [--coordinators C≥2 (2)] [--agents A (4)] [--deployments N (20)] [--boot-delay 3s] [--lease-ttl 2s] ' +
  '[--settle-timeout S (120)] [--scale-agents K (500; 0 skips)] [--scale-nodes M (1000)] [--json FILE] [--keep]';
const CLI = { name: 'bench:failover', usage: USAGE };
const usageError = (message: string): never => benchUsageError(CLI, message);
const values = parseBenchArgs(CLI, {
  runs: { type: 'string', default: '5' },
  coordinators: { type: 'string', default: '2' },
  agents: { type: 'string', default: '4' },
  deployments: { type: 'string', default: '20' },
  'boot-delay': { type: 'string', default: '3s' },
  'lease-ttl': { type: 'string', default: '2s' },
  'settle-timeout': { type: 'string', default: '120' },
  'scale-agents': { type: 'string', default: '500' },
  'scale-nodes': { type: 'string', default: '1000' },
  keep: { type: 'boolean', default: false },
});
const wholeAtLeast = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  const raw = (values as Record<string, unknown>)[flag];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) usageError(`--${flag} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, got ${String(raw)}`);
  return n;
};
const RUNS = wholeAtLeast('runs', 1);
// The future leader must be running (and watched) before the kill: a second coordinator at least.
const COORDINATORS = wholeAtLeast('coordinators', 2, 9);
const AGENTS = wholeAtLeast('agents', 1, 200);
const DEPLOYMENTS = wholeAtLeast('deployments', 2, MAX_DEPLOY_COUNT);
const SETTLE_MS = wholeAtLeast('settle-timeout', 10) * 1000;
const SCALE_AGENTS = wholeAtLeast('scale-agents', 0);
const SCALE_NODES = wholeAtLeast('scale-nodes', 1);
const BOOT_DELAY = values['boot-delay'];
if (!/^\d+(ms|s)$/.test(BOOT_DELAY)) usageError(`--boot-delay must be like 3s or 500ms, got ${BOOT_DELAY}`);
const LEASE_TTL = values['lease-ttl'];
if (!/^[1-9]\d*s$/.test(LEASE_TTL)) usageError(`--lease-ttl must be whole seconds like 2s (etcd leases count seconds), got ${LEASE_TTL}`);
const LEASE_TTL_S = Number(LEASE_TTL.slice(0, -1));
const BOOT_DELAY_S = BOOT_DELAY.endsWith('ms') ? Number(BOOT_DELAY.slice(0, -2)) / 1000 : Number(BOOT_DELAY.slice(0, -1));
const AGENT_NAMES = Array.from({ length: AGENTS }, (_, i) => `phys-${String(i + 1).padStart(2, '0')}`);
/** Targets: failover median < 3 s (with the default 2 s lease TTL), nothing leaked, doubled or orphaned, every deployment completed. */
const TARGET_FAILOVER_S = 3;
/** Target of the scale comparison: each etcd figure at most this many times the SQLite one. */
const TARGET_SCALE_RATIO = 2;

const now = (): number => systemClock.monotonicMs();
const T_START = now();
const log = (line: string): void => void process.stderr.write(`[${((now() - T_START) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
const workDir = await mkdtemp(path.join(os.tmpdir(), 'vonode-bench-failover-'));

/** Whatever runs now (a site, a scale child): killed by PID if the benchmark is interrupted or dies. */
let liveSite: HaSite | undefined;
let liveChild: ChildProcess | undefined;
function killEverythingNow(): void {
  const pids = [...(liveSite?.coordinators ?? []).map((c) => c.proc?.pid), ...(liveSite?.agents ?? []).map((a) => a.proc?.pid)];
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // The scale benchmark stops its own children (fleet, coordinator, etcd) on SIGTERM.
  if (liveChild?.pid !== undefined && liveChild.exitCode === null && liveChild.signalCode === null) liveChild.kill('SIGTERM');
  // etcd members of a site are killed by EtcdCluster's own exit hook.
}
process.on('exit', killEverythingNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => (killEverythingNow(), process.exit(130)));

/** Seconds after the kill at which the new leader's and the agents' logs say each step happened (null: not seen). */
interface Breakdown {
  /** The new leader's "elected leader": the old lease expired and the election watch fired. */
  elected: number | null;
  /** "leading: state read from etcd, resuming the queue". */
  stateRead: number | null;
  /** Agents registered with the new leader: the first, and the last of them. */
  firstAgentRegistered: number | null;
  allAgentsRegistered: number | null;
  /** Agents registered with the new leader before its first attempt started. */
  agentsBeforeFirstAttempt: number;
  /** Operations the dead leader left running, collected as orphans ("operations interrupted by a restart"). */
  orphansCollected: number | null;
  /** The first "deployment attempt started" (or "operation queued again") of the new leader. */
  firstAttempt: number | null;
  firstRequeue: number | null;
  /** The agents' "registered with the coordinator" after the kill: the first and the last. */
  agentsSayRegisteredFirst: number | null;
  agentsSayRegisteredLast: number | null;
}

const NO_BREAKDOWN: Breakdown = {
  elected: null, stateRead: null, firstAgentRegistered: null, allAgentsRegistered: null, agentsBeforeFirstAttempt: 0, orphansCollected: null,
  firstAttempt: null, firstRequeue: null, agentsSayRegisteredFirst: null, agentsSayRegisteredLast: null,
};

interface RunResult {
  run: number;
  oldLeader: string;
  newLeader: string;
  inFlightAtKill: number;
  doneBeforeKill: number;
  electedS: number | null;
  failoverS: number | null;
  /** The event taken as the first dispatch (phase, edge, operation). */
  dispatchEvent: string;
  completed: number;
  failed: number;
  leaked: number;
  doubled: number;
  orphanDomains: number;
  orphanReservations: number;
  settleS: number | null;
  breakdown: Breakdown;
  details: string[];
  error?: string;
}

/** A WatchEvents stream on one coordinator: the first phase the agents stamped after the kill. */
class PhaseWatch {
  events = 0;
  error = '';
  first: { atMs: number; text: string } | undefined;
  private killWallMs = Number.POSITIVE_INFINITY;
  private t0 = 0;
  private readonly abort = new AbortController();
  private onFirst: (() => void) | undefined;
  private readonly loop: Promise<void>;

  constructor(readonly coordinator: HaCoordinator, site: HaSite) {
    const client = site.clientOf(coordinator);
    this.loop = (async () => {
      try {
        for await (const e of client.watchEvents(this.abort.signal)) this.seen(e);
      } catch (e) {
        if (!this.abort.signal.aborted) this.error = errorMessage(e);
      } finally {
        client.close();
      }
    })();
  }

  /** From now on, the first phase stamped at or after `killWallMs` counts. */
  arm(t0: number, killWallMs: number): void {
    this.t0 = t0;
    this.killWallMs = killWallMs;
  }

  /** Resolves once the first qualifying phase arrived (or `ms` passed); the result is in `first`. */
  async waitFirst(ms: number): Promise<void> {
    if (this.first) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.onFirst = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private seen(e: CoordinatorEvent): void {
    const at = now();
    this.events++;
    if (this.first || e.event?.$case !== 'phase' || at < this.t0) return;
    const p = e.event.value;
    if (p.unixMs < this.killWallMs) return; // the dead leader's write, delivered late
    this.first = { atMs: at, text: `${Phase[p.phase]?.replace('PHASE_', '') ?? p.phase} ${p.edge === Edge.EDGE_END ? 'end' : 'start'} of ${p.operationId.slice(0, 8)}` };
    this.onFirst?.();
  }
}

const median = (xs: readonly number[]): number => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (s: number | null, digits = 2): string => (s === null || !Number.isFinite(s) ? 'n/a' : s.toFixed(digits));

async function statusOf(site: HaSite, c: HaCoordinator): Promise<Awaited<ReturnType<ReturnType<HaSite['clientOf']>['status']>> | undefined> {
  const client = site.clientOf(c);
  return client.status(2000).catch(() => undefined).finally(() => client.close());
}

async function deployOps(site: HaSite): Promise<OperationRecord[]> {
  const done = await site.etcdStore.ns.getAll().prefix(KEYS.doneOps).strings();
  return Object.values(done).map((t) => JSON.parse(t) as OperationRecord).filter((o) => o.kind === 'deploy');
}

/** Pino lines of one daemon (HaSite keeps each line as `[label] {json}`), with their wall-clock time. */
function logLines(site: HaSite, label: string): Array<{ time: number; msg: string }> {
  const out: Array<{ time: number; msg: string }> = [];
  for (const line of site.recentLogs(4000, label).split('\n')) {
    const json = line.slice(line.indexOf(']') + 2);
    try {
      const l = JSON.parse(json) as { time?: number; msg?: string };
      if (typeof l.time === 'number' && typeof l.msg === 'string') out.push({ time: l.time, msg: l.msg });
    } catch {
      // not a whole JSON line (HaSite cuts lines at 600 characters)
    }
  }
  return out;
}

/** Where the time went after the kill, from the new leader's and the agents' logs. */
function breakdownFromLogs(site: HaSite, leader: HaCoordinator | undefined, killWallMs: number): Breakdown {
  const after = (t: number | undefined): number | null => (t === undefined ? null : (t - killWallMs) / 1000);
  const lines = leader ? logLines(site, `coordinator-${leader.index}`).filter((l) => l.time >= killWallMs) : [];
  const firstOf = (msg: string): number | undefined => lines.find((l) => l.msg === msg)?.time;
  const registered = lines.filter((l) => l.msg === 'agent registered').map((l) => l.time);
  const firstAttempt = firstOf('deployment attempt started');
  const agentSide = AGENT_NAMES.map((a) => logLines(site, a).find((l) => l.time >= killWallMs && l.msg === 'registered with the coordinator')?.time)
    .filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  const orphans = lines.find((l) => l.msg === 'operations interrupted by a restart; waiting for their agents');
  return {
    elected: after(firstOf('elected leader')),
    stateRead: after(firstOf('leading: state read from etcd, resuming the queue')),
    firstAgentRegistered: after(registered[0]),
    allAgentsRegistered: registered.length >= AGENTS ? after(registered[AGENTS - 1]) : null,
    agentsBeforeFirstAttempt: firstAttempt === undefined ? registered.length : registered.filter((t) => t <= firstAttempt).length,
    orphansCollected: orphans ? after(orphans.time) : null,
    firstAttempt: after(firstAttempt),
    firstRequeue: after(firstOf('operation queued again')),
    agentsSayRegisteredFirst: after(agentSide[0]),
    agentsSayRegisteredLast: agentSide.length >= AGENTS ? after(agentSide[AGENTS - 1]) : null,
  };
}

/** One run on a fresh site. Never throws: a failed step is reported in the result. */
async function runOnce(run: number): Promise<RunResult> {
  const result: RunResult = {
    run, oldLeader: '', newLeader: '', inFlightAtKill: 0, doneBeforeKill: 0, electedS: null, failoverS: null, dispatchEvent: '',
    completed: 0, failed: 0, leaked: Number.NaN, doubled: Number.NaN, orphanDomains: Number.NaN, orphanReservations: Number.NaN, settleS: null,
    breakdown: NO_BREAKDOWN, details: [],
  };
  const site = (liveSite = new HaSite({ coordinators: COORDINATORS, agents: AGENT_NAMES, poolSize: DEPLOYMENTS + 8, bootDelay: BOOT_DELAY, leaseTtl: LEASE_TTL }));
  const watches: PhaseWatch[] = [];
  let client: ReturnType<HaSite['client']> | undefined;
  try {
    log(`run ${run}: starting a fresh site (3 etcd members, ${COORDINATORS} coordinators, ${AGENTS} agents)`);
    await site.start();
    const old = await site.waitForLeader(30_000);
    result.oldLeader = `coordinator-${old.index} ${old.address}`;
    await until(`${AGENTS} agents registered with the leader`, async () => (await statusOf(site, old))?.hostsUp === AGENTS || undefined, 60_000, 200);
    // Watch every coordinator that may lead next, before anything happens.
    for (const c of site.coordinators.filter((x) => x !== old)) watches.push(new PhaseWatch(c, site));
    const deployClient = (client = site.client());
    log(`run ${run}: leader coordinator-${old.index}; deploying ${DEPLOYMENTS} nodes`);
    void (async () => {
      for await (const e of deployClient.deployNodes({ vo: 'bio', count: DEPLOYMENTS })) void e;
    })().catch(() => undefined); // the stream breaks when its coordinator dies
    const half = Math.ceil(DEPLOYMENTS / 2);
    const inFlight = await until(`${half} deployments in flight on the leader`, async () => {
      const s = await statusOf(site, old);
      return s && s.runningOperations >= half ? s.runningOperations : undefined;
    }, 60_000, 50);
    // The standbys' streams are open once they republished the deployments' writes.
    await until('every standby\'s WatchEvents stream delivering', () => watches.every((w) => w.events > 0) || undefined, 10_000, 50);
    result.inFlightAtKill = inFlight;
    result.doneBeforeKill = (await deployOps(site)).length;

    const t0 = now();
    const killWallMs = Date.now();
    for (const w of watches) w.arm(t0, killWallMs);
    await site.killCoordinator(old, true);
    log(`run ${run}: SIGKILLed the leader (pid gone) with ${inFlight} deployments running, ${result.doneBeforeKill} done`);
    const next = await site.waitForLeader(60_000, old);
    result.electedS = (now() - t0) / 1000;
    result.newLeader = `coordinator-${next.index} ${next.address}`;
    const watch = watches.find((w) => w.coordinator === next);
    if (!watch) result.details.push(`the new leader coordinator-${next.index} was not watched (not a standby before the kill)`);
    const dispatchWatch = watch ?? watches[0]!;
    await dispatchWatch.waitFirst(Math.max(1000, 60_000 - (now() - t0)));
    if (dispatchWatch.first) {
      result.failoverS = (dispatchWatch.first.atMs - t0) / 1000;
      result.dispatchEvent = dispatchWatch.first.text;
    } else {
      result.details.push(`no phase event on coordinator-${dispatchWatch.coordinator.index}'s stream within 60 s of the kill${dispatchWatch.error ? ` (stream: ${dispatchWatch.error})` : ''}`);
    }
    log(`run ${run}: elected after ${fmt(result.electedS)} s, first dispatch after ${fmt(result.failoverS)} s (${result.dispatchEvent || 'none'})`);

    let last: SiteAudit | undefined;
    try {
      await until('every deployment ended, every lease running', async () => {
        last = await site.audit().catch(() => last);
        return last && last.openOperations === 0 && last.nodes.every((n) => n.state === 'running') ? true : undefined;
      }, SETTLE_MS, 500);
      result.settleS = (now() - t0) / 1000;
    } catch (e) {
      result.details.push(`${errorMessage(e)}: ${last?.openOperations ?? '?'} operations still open`);
    }
    result.breakdown = breakdownFromLogs(site, next, killWallMs);
    const audit = last ?? (await site.audit());
    const ops = await deployOps(site);
    result.completed = ops.filter((o) => o.state === 'succeeded').length;
    result.failed = ops.filter((o) => o.state === 'failed').length;
    result.leaked = audit.leakedTriples.length;
    result.doubled = audit.doubledTriples.length;
    result.orphanDomains = audit.orphanDomains.length;
    result.orphanReservations = audit.orphanReservations.length;
    if (audit.nodes.length !== DEPLOYMENTS) result.details.push(`${audit.nodes.length} leases for ${DEPLOYMENTS} deployments`);
    for (const [what, list] of [['leaked', audit.leakedTriples], ['doubled', audit.doubledTriples], ['orphan domain', audit.orphanDomains], ['orphan reservation', audit.orphanReservations]] as const) {
      for (const x of list.slice(0, 5)) result.details.push(`${what}: ${x}`);
    }
    for (const o of ops.filter((x) => x.state === 'failed').slice(0, 5)) result.details.push(`failed: ${o.node}: ${o.error}`);
  } catch (e) {
    result.error = errorMessage(e);
    log(`run ${run} failed: ${result.error}`);
  } finally {
    await Promise.all(watches.map((w) => w.stop()));
    client?.close();
    await writeFile(path.join(workDir, `run-${run}.log`), `${site.recentLogs(4000)}\n`).catch(() => undefined);
    await site.stop(values.keep).catch((e: unknown) => log(`stopping the site of run ${run}: ${errorMessage(e)}`));
    if (values.keep && site.dir) result.details.push(`site kept in ${site.dir}`);
    liveSite = undefined;
  }
  return result;
}

/** The figures the comparison takes from one coordinator-scale run. */
interface ScaleFigures {
  registerS: number;
  dispatchP99Ms: number;
  /** DeployNodes of all the deployments → all running (not a target: context for the others). */
  deployWallS: number;
  rssMb: number;
  complete: boolean;
  logFile: string;
  /** Why the run failed, from its output ('' if it did not). */
  failure: string;
}

/** Runs scripts/bench/coordinator-scale.ts as a child process on one store; resolves with its --json figures. */
async function scaleRun(store: 'sqlite' | 'etcd'): Promise<ScaleFigures> {
  const jsonFile = path.join(workDir, `scale-${store}.json`);
  const logFile = path.join(workDir, `scale-${store}.log`);
  const args = ['--import', 'tsx', path.join(ROOT, 'scripts/bench/coordinator-scale.ts'), '--store', store, '--agents', String(SCALE_AGENTS), '--nodes', String(SCALE_NODES),
    '--pool', String(Math.max(1500, SCALE_NODES)), '--json', jsonFile, ...(values.keep ? ['--keep'] : [])];
  log(`coordinator-scale --store ${store} --agents ${SCALE_AGENTS} --nodes ${SCALE_NODES} (output: ${logFile})`);
  const fd = openSync(logFile, 'a');
  const t0 = now();
  try {
    const child = (liveChild = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', fd, fd] }));
    const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? 'unknown')));
    liveChild = undefined;
    log(`coordinator-scale --store ${store} ended (${code}) after ${secs(now() - t0)}`);
  } finally {
    closeSync(fd);
  }
  const json = JSON.parse(await readFile(jsonFile, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  const num = (k: string): number => (typeof json[k] === 'number' ? (json[k] as number) : Number.NaN);
  const output = await readFile(logFile, 'utf8').catch(() => '');
  const failure = /^benchmark failed: (.*)$/m.exec(output)?.[1] ?? (/^some steps did not finish in time.*$/m.exec(output)?.[0] ?? '');
  if (failure) log(`coordinator-scale --store ${store}: ${failure.slice(0, 400)}`);
  return { registerS: num('register_s'), dispatchP99Ms: num('dispatch_p99_ms'), deployWallS: num('deploy_wall_s'), rssMb: num('rss_mb'), complete: json['complete'] === true, logFile, failure };
}

// ---- main ----
console.log(`failover benchmark: ${RUNS} run(s), each on a FRESH HA site (3 etcd members, ${COORDINATORS} coordinators supervised, ${AGENTS} agents on the ` +
  `simulated driver, boot delay ${BOOT_DELAY}), lease TTL ${LEASE_TTL}, ${DEPLOYMENTS} deployments per run; ${os.cpus().length} cores, Node ${process.version}`);
console.log('failover_s = SIGKILL of the leader → first phase event (stamped after the kill) on the new leader\'s WatchEvents stream, opened while it was a standby');
console.log(`elected_s = SIGKILL → HaSite.waitForLeader(not the old one) succeeds (oldest election key + its Status role 'leader'); work dir ${workDir}\n`);
const results: RunResult[] = [];
for (let run = 1; run <= RUNS; run++) {
  const r = await runOnce(run);
  results.push(r);
  printRun(r);
}

const failovers = results.map((r) => r.failoverS).filter((x): x is number => x !== null);
const electeds = results.map((r) => r.electedS).filter((x): x is number => x !== null);
const report = new BenchReport();
report.section(`failover over ${RUNS} run(s) (lease TTL ${LEASE_TTL}, ${DEPLOYMENTS} deployments each)`);
const failoverMedian = median(failovers);
const failoverMax = failovers.length ? Math.max(...failovers) : Number.NaN;
report.add(`failover (kill → new leader dispatching), median`, failovers.length === RUNS ? secs(failoverMedian * 1000) : `${failovers.length} of ${RUNS} measured`,
  { text: `< ${TARGET_FAILOVER_S} s`, pass: failovers.length === RUNS && failoverMedian < TARGET_FAILOVER_S });
report.add('failover, max', Number.isFinite(failoverMax) ? secs(failoverMax * 1000) : 'n/a');
report.add('elected (kill → new leader answers as leader), median / max', electeds.length ? `${secs(median(electeds) * 1000)} / ${secs(Math.max(...electeds) * 1000)}` : 'n/a');
const sum = (f: (r: RunResult) => number): number => results.reduce((s, r) => s + f(r), 0);
const total = (f: (r: RunResult) => number): string => (results.every((r) => Number.isFinite(f(r))) ? String(sum(f)) : 'n/a');
report.add('leaked triples, all runs', total((r) => r.leaked), { text: '0', pass: total((r) => r.leaked) === '0' });
report.add('doubled triples, all runs', total((r) => r.doubled), { text: '0', pass: total((r) => r.doubled) === '0' });
report.add('orphan domains, all runs', total((r) => r.orphanDomains), { text: '0', pass: total((r) => r.orphanDomains) === '0' });
report.add('orphan DHCP reservations, all runs', total((r) => r.orphanReservations));
report.add('completed (deployments that ended succeeded) per run', results.map((r) => r.completed).join(', '),
  { text: `= ${DEPLOYMENTS}`, pass: results.every((r) => r.completed === DEPLOYMENTS) });

const json: Record<string, unknown> = {
  benchmark: 'failover', site: 'fresh HaSite per run', runs: RUNS, coordinators: COORDINATORS, agents: AGENTS, lease_ttl_s: LEASE_TTL_S, boot_delay_s: BOOT_DELAY_S,
  deployments: DEPLOYMENTS,
  in_flight_at_kill: results.map((r) => r.inFlightAtKill),
  completed: results.map((r) => r.completed),
  failover_s: results.map((r) => finiteOrNull(r.failoverS ?? undefined)),
  elected_s: results.map((r) => finiteOrNull(r.electedS ?? undefined)),
  leaked_triples: results.map((r) => finiteOrNull(r.leaked)),
  doubled_triples: results.map((r) => finiteOrNull(r.doubled)),
  orphan_domains: results.map((r) => finiteOrNull(r.orphanDomains)),
  orphan_reservations: results.map((r) => finiteOrNull(r.orphanReservations)),
  settle_s: results.map((r) => finiteOrNull(r.settleS ?? undefined)),
  failover_median_s: finiteOrNull(failoverMedian),
  failover_max_s: finiteOrNull(failoverMax),
  elected_median_s: finiteOrNull(median(electeds)),
  breakdown: results.map((r) => breakdownJson(r)),
};

if (SCALE_AGENTS > 0) {
  const sqlite = await scaleRun('sqlite');
  const etcd = await scaleRun('etcd');
  report.section(`coordinator at scale: ${SCALE_AGENTS} simulated agents, ${SCALE_NODES} deployments (coordinator-scale.ts), etcd against SQLite`);
  const ratio = (a: number, b: number): number => a / b;
  const row = (label: string, e: number, s: number, unit: (x: number) => string): number => {
    const r = ratio(e, s);
    report.add(`${label}: etcd / SQLite`, `${unit(e)} / ${unit(s)} = ${Number.isFinite(r) ? r.toFixed(2) : 'n/a'}×`, { text: `≤ ${TARGET_SCALE_RATIO}×`, pass: r <= TARGET_SCALE_RATIO });
    return r;
  };
  const registerRatio = row('registration (fleet start → all UP)', etcd.registerS, sqlite.registerS, (x) => `${fmt(x, 2)} s`);
  const p99Ratio = row('dispatch pass p99', etcd.dispatchP99Ms, sqlite.dispatchP99Ms, (x) => `${fmt(x, 1)} ms`);
  const rssRatio = row('coordinator peak RSS', etcd.rssMb, sqlite.rssMb, (x) => `${fmt(x, 0)} MB`);
  report.add('all deployments running, client wall time (no target): etcd / SQLite', `${fmt(etcd.deployWallS, 1)} s / ${fmt(sqlite.deployWallS, 1)} s`);
  if (!sqlite.complete || !etcd.complete) report.add('scale runs complete (sqlite; etcd)', `${sqlite.complete}; ${etcd.complete} (see ${sqlite.logFile}, ${etcd.logFile})`);
  Object.assign(json, {
    scale_agents: SCALE_AGENTS, scale_nodes: SCALE_NODES,
    register_s: finiteOrNull(etcd.registerS), dispatch_p99_ms: finiteOrNull(etcd.dispatchP99Ms), rss_mb: finiteOrNull(etcd.rssMb),
    sqlite_register_s: finiteOrNull(sqlite.registerS), sqlite_dispatch_p99_ms: finiteOrNull(sqlite.dispatchP99Ms), sqlite_rss_mb: finiteOrNull(sqlite.rssMb),
    deploy_wall_s: finiteOrNull(etcd.deployWallS), sqlite_deploy_wall_s: finiteOrNull(sqlite.deployWallS),
    register_ratio: finiteOrNull(registerRatio), dispatch_p99_ratio: finiteOrNull(p99Ratio), rss_ratio: finiteOrNull(rssRatio),
    scale_complete: { sqlite: sqlite.complete, etcd: etcd.complete },
    scale_failure: { sqlite: sqlite.failure || null, etcd: etcd.failure || null },
  });
}

const misses = report.misses();
console.log(`\n${report.render()}\n`);
console.log(misses.length ? `MISSED ${misses.length} target(s): ${misses.map((f) => f.label.trim()).join('; ')}` : 'all targets met');
const failedRuns = results.filter((r) => r.error);
json['complete'] = failedRuns.length === 0;
if (values.json) await writeBenchJson(values.json, json);
if (values.keep || misses.length || failedRuns.length) console.log(`logs kept in ${workDir}`);
else await rm(workDir, { recursive: true, force: true });
process.exit(misses.length || failedRuns.length ? 1 : 0);

/** A run's breakdown for --json: seconds after the kill, snake_case like the other fields. */
function breakdownJson(r: RunResult): Record<string, unknown> {
  const b = r.breakdown;
  return {
    run: r.run, old_leader: r.oldLeader, new_leader: r.newLeader, deployments_done_before_kill: r.doneBeforeKill,
    elected_log_s: b.elected, state_read_s: b.stateRead, orphans_collected_s: b.orphansCollected,
    first_agent_registered_s: b.firstAgentRegistered, all_agents_registered_s: b.allAgentsRegistered,
    first_attempt_started_s: b.firstAttempt, agents_registered_before_first_attempt: b.agentsBeforeFirstAttempt, first_requeue_s: b.firstRequeue,
    agents_say_registered_first_s: b.agentsSayRegisteredFirst, agents_say_registered_last_s: b.agentsSayRegisteredLast,
    dispatch_event: r.dispatchEvent || null, failed_deployments: r.failed, details: r.details, error: r.error ?? null,
  };
}

function printRun(r: RunResult): void {
  const b = r.breakdown;
  const table = new BenchReport();
  table.section(`run ${r.run}: ${r.oldLeader || '?'} killed → ${r.newLeader || '?'}`);
  if (r.error) table.add('run failed', r.error);
  table.add('deployments in flight at the kill (running); done before it', `${r.inFlightAtKill}; ${r.doneBeforeKill}`);
  table.add('elected_s (kill → waitForLeader(not old) succeeds)', `${fmt(r.electedS, 3)} s`);
  table.add(`failover_s (kill → first phase on the new leader: ${r.dispatchEvent || 'none'})`, `${fmt(r.failoverS, 3)} s`, r.failoverS === null ? undefined : { text: `< ${TARGET_FAILOVER_S} s`, pass: r.failoverS < TARGET_FAILOVER_S });
  table.add('  its log: elected; state read; orphans collected', `${fmt(b.elected)}; ${fmt(b.stateRead)}; ${fmt(b.orphansCollected)} s`);
  table.add('  agents registered with it: first; all', `${fmt(b.firstAgentRegistered)}; ${fmt(b.allAgentsRegistered)} s`);
  table.add('  first attempt started (agents registered by then); first requeue', `${fmt(b.firstAttempt)} s (${b.agentsBeforeFirstAttempt}); ${fmt(b.firstRequeue)} s`);
  table.add('  agents\' logs "registered with the coordinator": first; last', `${fmt(b.agentsSayRegisteredFirst)}; ${fmt(b.agentsSayRegisteredLast)} s`);
  table.add('kill → every deployment ended (settled)', `${fmt(r.settleS)} s`);
  table.add('completed (succeeded); failed', `${r.completed} / ${DEPLOYMENTS}; ${r.failed}`, { text: `= ${DEPLOYMENTS}`, pass: r.completed === DEPLOYMENTS });
  table.add('leaked / doubled triples; orphan domains; orphan reservations', `${r.leaked} / ${r.doubled}; ${r.orphanDomains}; ${r.orphanReservations}`,
    { text: '0', pass: r.leaked === 0 && r.doubled === 0 && r.orphanDomains === 0 });
  console.log(`${table.render()}`);
  for (const d of r.details) console.log(`  ${d}`);
  console.log('');
}
