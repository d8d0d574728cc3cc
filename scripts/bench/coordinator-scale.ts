// Benchmark of the coordinator at scale (issue: "runs one coordinator against
// at least 500 simulated agents"). One REAL vonode-coordinator process (mutual
// TLS, 1s heartbeats, down after 3s) and a SIMULATED agent fleet: K child
// processes of in-memory AgentService servers that register and heartbeat
// through the real CoordinatorLink (scripts/bench/lib/simulated-agent-fleet.ts).
// Prints registration time, dispatch-pass (planning cycle) latency, event
// throughput, coordinator RSS, dead-agent detection and removal rate, each
// against its target. Every step has a time limit (a step that runs out is
// reported, and the run goes on); loopback only; every child is killed by PID.
// Usage: node --import tsx scripts/bench/coordinator-scale.ts [--agents 500] [--procs 4] [--nodes 1000]
//   [--curve 1000,2500,5000] [--batches 4] [--pool 1500] [--max-transfers 2] [--deploy-timeout 120]
//   [--timeout 300] [--heartbeat 1] [--store sqlite|etcd] [--json FILE] [--insecure] [--cpu-prof] [--keep]
// --store etcd (default sqlite) starts a REAL 3-member etcd cluster (scripts/testbed/lib/etcd-cluster.ts,
// Debian etcd-server, plain http on 127.0.0.1) and gives the coordinator store.etcd (prefix /vonode/,
// lease TTL 2 s) and advertise = its listen address: it campaigns, leads alone, and commits every state
// change to etcd; the fleet starts once its Status says role 'leader'.
// --curve deploys (and removes) each size in turn on the same site and prints the cost per
// deployment at each (coordinator CPU and wall time), the scaling curve; --nodes is then the largest.
// --json FILE writes: agents, deployments, register_s, register_coordinator_cpu_s, deploy_wall_s,
// deployments_per_s, dispatch_p99_ms, event_loop_delay_p99_ms, heartbeat_late, heartbeats,
// false_down, rss_mb, dead_detect_s, removal_s, curve[] (per size: deployments, deploy_wall_s,
// deployments_per_s, coordinator_cpu_s, cpu_ms_per_deployment, wall_ms_per_deployment,
// event_loop_delay_p99_ms, heartbeat_late) and cost_ratio (cpu ms/deployment, largest / smallest),
// and store ('sqlite' or 'etcd').
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../../shared/clock.js';
import { MAX_DEPLOY_COUNT } from '../../coordinator/api/request-limits.js';
import { errorMessage } from '../../shared/errors.js';
import { NodeState } from '../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { BenchProcesses, waitForJsonLine, type BenchChild } from './lib/bench-processes.js';
import { finiteOrNull, writeBenchJson } from './lib/bench-json.js';
import { BenchReport, mb, millis, rate, secs } from './lib/bench-report.js';
import { BenchSite } from './lib/bench-site.js';
import { summarizeCoordinatorLog } from './lib/coordinator-log-summary.js';
import { topSelfTime } from './lib/cpu-profile-summary.js';
import { planFleet, startFleet, type FleetSlice } from './lib/fleet-launcher.js';
import { startHealthProbe } from './lib/health-probe.js';
import { startStepDeadline } from './lib/step-deadline.js';
import { heartbeatStats, type HeartbeatStats } from './lib/heartbeat-stats.js';
import { procMemory, tryScrape, type MetricsScrape } from './lib/prom-text.js';
import { deployBatches, EventCounter, hostCounts, removeNodes, waitForHosts, within, type DeployBatch } from './lib/site-probes.js';
import { EtcdCluster } from '../testbed/lib/etcd-cluster.js';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '500' }, procs: { type: 'string', default: '4' }, nodes: { type: 'string', default: '1000' },
    batches: { type: 'string', default: '4' }, pool: { type: 'string', default: '1500' }, 'max-transfers': { type: 'string', default: '2' },
    'deploy-timeout': { type: 'string', default: '120' }, timeout: { type: 'string', default: '300' },
    insecure: { type: 'boolean', default: false }, 'cpu-prof': { type: 'boolean', default: false }, keep: { type: 'boolean', default: false },
    curve: { type: 'string' }, json: { type: 'string' }, heartbeat: { type: 'string', default: '1' }, store: { type: 'string', default: 'sqlite' },
  },
});
const AGENTS = Number(values.agents);
const PROCS = Number(values.procs);
/** Deployment-phase sizes, ascending; the last (largest) one is the run's headline. */
const CURVE = (values.curve ? values.curve.split(',').map(Number) : [Number(values.nodes)]).sort((a, b) => a - b);
const NODES = CURVE[CURVE.length - 1]!;
const BATCHES = Number(values.batches);
const TIMEOUT_MS = Number(values.timeout) * 1000;
/** The agents' heartbeat interval (s); an agent silent for 3 intervals is down. */
const HEARTBEAT_S = Number(values.heartbeat);
const DOWN_AFTER_S = 3 * HEARTBEAT_S;
/** How often the benchmark polls ListHosts: every answer encodes every host, so a big fleet is polled less (the poll is load too). */
const POLL_MS = AGENTS > 500 ? 500 : 100;
// Issue 16's targets: registration under 10 s of coordinator CPU, dispatch p99 < 100 ms, event-loop delay p99 < 200 ms,
// no late heartbeat, RSS < 1 GB at 2,000 agents (500 MB at the original 500), cost per deployment at the largest size ≤ 2× the smallest.
const TARGETS = { registrationMs: 10_000, registerCpuS: 10, passP99S: 0.1, loopP99S: 0.2, rssBytes: AGENTS > 500 ? 1e9 : 500e6, deadMs: Math.max(5, DOWN_AFTER_S * 1.2 + 1) * 1000, costRatio: 2 };
// (dead-agent detection takes up to downAfter plus one sweep period, downAfter / 5.)
if (CURVE.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--curve must be whole numbers above 0, e.g. 1000,2500,5000`);
if (NODES > Number(values.pool)) throw new Error(`${NODES} deployments are more than the pool (--pool ${values.pool})`);
if (PROCS < 2) throw new Error('--procs must be at least 2 (one fleet process is killed to test dead-agent detection)');
const STORE = values.store;
if (STORE !== 'sqlite' && STORE !== 'etcd') throw new Error(`--store must be sqlite or etcd, not ${STORE}`);

const T0 = systemClock.monotonicMs();
const now = (): number => systemClock.monotonicMs();
const log = (line: string): void => void process.stderr.write(`[${((now() - T0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
/** The overall deadline: remaining() is the time left, limit(ms) a step's signal (never past the deadline). */
const { remaining, limit } = startStepDeadline(TIMEOUT_MS);
const dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-coordinator-scale-'));
const processes = new BenchProcesses();
const report = new BenchReport();
// Failsafe: whatever hangs, no child outlives the benchmark, and what was measured is printed.
const graceMs = values['cpu-prof'] ? 150_000 : 90_000;
const hardStop = setTimeout(() => {
  console.log(`\n${report.render()}\n`);
  log(`the run did not end ${(TIMEOUT_MS + graceMs) / 1000} s after it started: killing every child by PID; logs in ${dir}`);
  processes.killAllNow();
  process.exit(1);
}, TIMEOUT_MS + graceMs);
process.on('exit', () => processes.killAllNow());
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => (processes.killAllNow(), process.exit(130)));

/** The etcd cluster of --store etcd (started before the coordinator, closed after it; EtcdCluster also kills it by PID on exit). */
let etcd: EtcdCluster | undefined;
const site = new BenchSite({
  dir, poolSize: Number(values.pool), heartbeatS: HEARTBEAT_S, agents: AGENTS, insecure: values.insecure, maxConcurrentTransfers: Number(values['max-transfers']),
  nodeArgs: values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.join(dir, 'cpu-prof')] : [],
});
const fleet = planFleet(AGENTS, PROCS, dir);
const pkiDir = (): string | undefined => (values.insecure ? undefined : site.pki);
const scrape = (what: string): Promise<MetricsScrape> => tryScrape(site.metricsPort, Math.min(15_000, remaining() + 5000), (e) => log(`/metrics ${what}: ${errorMessage(e)}`));
/** At most `ms`, and at most 5 s past the overall deadline. */
const capped = (ms: number): number => Math.min(ms, remaining() + 5000);
const rssMetric = 'vonode_coordinator_process_resident_memory_bytes';
const cpuMetric = 'vonode_coordinator_process_cpu_seconds_total';
/** prom-client's event-loop delay (perf_hooks monitorEventLoopDelay), reset at every scrape: p99 since the previous scrape. */
const loopP99Metric = 'vonode_coordinator_nodejs_eventloop_lag_p99_seconds';
/** What --json writes; filled in as the phases run. */
const json: Record<string, unknown> = { store: STORE, agents: AGENTS, procs: PROCS, pool: Number(values.pool), deployments: NODES, curve: [] as unknown[] };
let complete = true;

try {
  if (STORE === 'etcd') {
    log('starting a 3-member etcd cluster');
    etcd = await EtcdCluster.start({ members: 3, dir: path.join(dir, 'etcd') });
    site.useEtcd(etcd.endpoints());
  }
  await site.prepare();
  const coordinator = await site.startCoordinator(processes);
  const client = site.client();
  const events = new EventCounter(client);
  events.start();
  printSetup(coordinator);
  const mStart = await scrape('before registration');

  // 1. Registration: fleet start → ListHosts shows every agent UP (fatal if it never happens).
  report.section('registration');
  log(`starting ${PROCS} simulated fleet processes (${AGENTS} agents)`);
  const t1 = now();
  const listening = fleet.map((f) => waitForJsonLine(startFleet(processes, f, site.port, pkiDir()), 'listening', 60_000).then(() => now() - t1));
  for (const l of listening) l.catch(() => undefined); // awaited below; a failure must not surface as unhandled first
  const registrationMs = await waitForHosts(client, `${AGENTS} agents UP`, (h) => hostCounts(h).up >= AGENTS, t1, limit(180_000), POLL_MS);
  report.add(`simulated fleet processes listening (${AGENTS} servers)`, secs(Math.max(...(await Promise.all(listening)))));
  const ups = events.hostUpAt.filter((t) => t >= t1);
  if (ups.length) report.add(`host-UP events (WatchEvents): first → last of ${ups.length}`, `${secs(ups[0]! - t1)} → ${secs(ups[ups.length - 1]! - t1)}`);
  // The wall-time target is the 500-agent one; above it the fleet's own processes (on the same cores) set the pace, and
  // the coordinator's target is its CPU (below).
  report.add(`fleet start → all ${AGENTS} agents UP (ListHosts)`, secs(registrationMs), AGENTS <= 500 ? { text: '< 10 s', pass: registrationMs < TARGETS.registrationMs } : undefined);
  log(`all ${AGENTS} agents UP after ${secs(registrationMs)}; letting heartbeats settle for 3 s`);
  await systemClock.sleep(3000);
  const mReg = await scrape('after registration');
  const regBeats = await heartbeatStats(fleet);
  // Steady state: nothing but heartbeats for a few intervals gives the coordinator's CPU per heartbeat.
  const quiet = await quietHeartbeats(mReg);
  // The coordinator's own CPU during registration, against the wall time (the fleet shares the 2 cores), and net of
  // the heartbeats the agents already registered sent meanwhile (a cost of the fleet's size, not of registering).
  const registerCpuS = mReg.get(cpuMetric) - mStart.get(cpuMetric);
  const registerNetS = registerCpuS - (((json['heartbeat_cpu_ms'] as number | null) ?? 0) * regBeats.total) / 1000;
  report.add('coordinator CPU during registration (+3 s), all of it', secs(registerCpuS * 1000));
  report.add(`  net of its ${regBeats.total} heartbeats: the registrations`, `${secs(registerNetS * 1000)} (${((registerNetS * 1000) / AGENTS).toFixed(2)} ms each)`, { text: '< 10 s', pass: registerNetS < TARGETS.registerCpuS });
  Object.assign(json, { register_s: registrationMs / 1000, register_coordinator_cpu_s: registerCpuS, register_net_cpu_s: registerNetS, register_heartbeats: regBeats.total });

  // 2.+3. Deployments through DeployNodes (each size of the curve, removed again before the next); dispatch passes from /metrics; events from WatchEvents.
  let before = quiet;
  let deployed: Awaited<ReturnType<typeof deployPhase>> | undefined;
  for (const n of CURVE) {
    deployed = await deployPhase(client, events, before, n);
    complete = deployed.finished && complete;
    if (n === NODES) break;
    complete = (await removalPhase(client, `removal of the ${n}`)) && complete;
    before = await scrape(`after removing ${n}`);
  }
  const mDep = deployed!.after;
  const memDep = await procMemory(coordinator.pid);
  printCurve();

  // 5. Dead agent: SIGKILL one fleet process; time until ListHosts shows all of its agents DOWN; restart it.
  complete = (await deadAgentPhase(client, fleet[fleet.length - 1]!)) && complete;

  // 6. Remove every node.
  complete = (await removalPhase(client, 'removal')) && complete;

  // 4. Memory, and the dispatch passes of the whole run.
  const mEnd = await scrape('at the end');
  const memEnd = await procMemory(coordinator.pid);
  report.section('coordinator memory');
  report.add(`RSS after registration (/metrics, ${AGENTS} agents)`, mb(mReg.get(rssMetric)));
  report.add(`RSS after the deployments (/metrics; /proc VmRSS)`, `${mb(mDep.get(rssMetric))}; ${mb(memDep.rss)}`);
  report.add('RSS at the end (/metrics; /proc VmRSS)', `${mb(mEnd.get(rssMetric))}; ${mb(memEnd.rss)}`);
  // VmHWM at the end, or (a coordinator that exited early has no /proc entry) the highest figure read before.
  const peak = Math.max(...[memEnd.hwm, memEnd.rss, memDep.hwm, memDep.rss, ...[mReg, mDep, mEnd].map((m) => m.get(rssMetric))].filter(Number.isFinite));
  const peakLabel = Number.isFinite(memEnd.hwm) ? 'peak RSS (/proc VmHWM)' : 'peak RSS (/proc VmHWM after the deployments: the coordinator was gone at the end)';
  report.add(peakLabel, mb(peak), { text: `< ${TARGETS.rssBytes / 1e6} MB`, pass: peak < TARGETS.rssBytes });
  json['rss_mb'] = finiteOrNull(peak / 1e6);
  report.section('whole run');
  dispatchFigures(report, mEnd, 'whole run', undefined, false);
  report.add('events seen by WatchEvents', String(events.total));
  if (events.error) log(`WatchEvents ended early: ${events.error}`);

  await events.stop();
  client.close();
  const misses = report.misses();
  console.log(`\n${report.render()}`);
  console.log(`(events by kind: ${Object.entries(events.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})\n`);
  console.log(misses.length ? `MISSED ${misses.length} target(s): ${misses.map((f) => f.label.trim()).join('; ')}` : 'all targets met');
  console.log(`coordinator log (${path.join(dir, 'coordinator.log')}): ${await summarizeCoordinatorLog(path.join(dir, 'coordinator.log'))}`);
  if (!complete) console.log(`some steps did not finish in time (see above); logs kept in ${dir}`);
  json['complete'] = complete;
  if (values.json) await writeBenchJson(values.json, json);
} catch (err) {
  log(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
  console.log(`\n${report.render()}\n\nbenchmark failed: ${errorMessage(err)}; logs: ${dir}/coordinator.log, ${dir}/fleet-*.log`);
  complete = false;
} finally {
  // Fleets first, then the coordinator with SIGTERM (clean SQLite close; --cpu-prof writes its profile on exit).
  const kids = processes.children;
  await Promise.all(kids.filter((c) => c.label !== 'coordinator').map((c) => processes.stop(c, 'SIGTERM', 5000)));
  await Promise.all(kids.filter((c) => c.label === 'coordinator').map((c) => processes.stop(c, 'SIGTERM', values['cpu-prof'] ? 60_000 : 10_000)));
  await etcd?.close().catch((e: unknown) => log(`closing etcd: ${errorMessage(e)}`));
  if (values['cpu-prof']) await printProfile(path.join(dir, 'cpu-prof'));
  clearTimeout(hardStop);
  if (values.keep || !complete || values['cpu-prof']) console.log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
process.exit(complete ? 0 : 1);

function printSetup(coordinator: BenchChild): void {
  const entry = path.relative(process.cwd(), site.entry.script);
  const how = entry.endsWith('.ts') ? `node --import tsx ${entry}` : `node ${entry}`;
  const tls = values.insecure ? 'INSECURE (--insecure, no TLS)' : `mutual TLS (scripts/pki; a role certificate per simulated agent, made in ${secs(site.pkiSeconds * 1000)})`;
  console.log(`coordinator: pid ${coordinator.pid}, ${how} (${site.entry.why}), ${tls}`);
  const store = etcd ? `etcd (3 members: ${etcd.endpoints().join(' ')}; prefix /vonode/, lease TTL 2 s; the coordinator leads alone)` : `SQLite (${path.join(dir, 'coordinator/state.db')})`;
  console.log(`state store: ${store}`);
  console.log(`site: pool ${values.pool} triples, heartbeat ${HEARTBEAT_S} s, downAfter ${DOWN_AFTER_S} s, maxConcurrentTransfers ${values['max-transfers']}, ` +
    `policy bio (weight 2) / fusion (weight 5), 1 vCPU / 512 MiB per node; ${os.cpus().length} cores, Node ${process.version}`);
  console.log(`SIMULATED agents: ${AGENTS} in ${PROCS} processes (${fleet.map((f) => f.count).join('+')}), each with its own gRPC server and ` +
    `coordinator connection, registering and heartbeating through the real CoordinatorLink; facts 16 CPUs / 64 GiB; phases ~10-45 ms\n`);
}

/** Deploys `nodes` nodes in BATCHES concurrent DeployNodes calls; says whether all finished in time, with the /metrics scrape taken after. */
async function deployPhase(client: CoordinatorClient, events: EventCounter, before: MetricsScrape, size: number): Promise<{ finished: boolean; after: MetricsScrape }> {
  const NODES = size; // this phase's size (the curve's sizes share the code)
  // At least --batches requests, and none above the API's ceiling per DeployNodes call.
  const batchCount = Math.max(BATCHES, Math.ceil(NODES / MAX_DEPLOY_COUNT));
  const perBatch = Math.ceil(NODES / batchCount);
  const batches: DeployBatch[] = Array.from({ length: batchCount }, (_, i) => ({ vo: i % 2 ? 'fusion' : 'bio', count: Math.min(perBatch, NODES - i * perBatch) }))
    .filter((b) => b.count > 0);
  const budgetMs = Number(values['deploy-timeout']) * 1000;
  log(`deploying ${NODES} nodes: ${batches.length} concurrent DeployNodes calls (${batches.map((b) => `${b.vo} ${b.count}`).join(', ')}), limit ${budgetMs / 1000} s`);
  const events0 = events.total;
  const ok0 = events.succeeded;
  const beats0 = await heartbeatStats(fleet);
  const stopProbe = startHealthProbe(`127.0.0.1:${site.port}`, site.credentials('cli'));
  const t0 = now();
  const progress = setInterval(() => log(`  ${events.succeeded - ok0} deployments succeeded, ${events.total - events0} events so far`), 10_000);
  const deployed = await deployBatches(client, batches, limit(budgetMs)).finally(() => clearInterval(progress));
  const ms = now() - t0;
  const eventCount = events.total - events0;
  const beats = diffBeats(await heartbeatStats(fleet), beats0);
  const health = await stopProbe();
  const after = await scrape('after the deployments');
  const nodes = await within(capped(30_000), 'ListNodes', client.listNodes()).then((r) => r.nodes, (e: unknown) => (log(errorMessage(e)), undefined));
  const running = nodes?.filter((n) => n.state === NodeState.NODE_STATE_RUNNING).length;
  const ok = deployed.reduce((s, b) => s + b.succeeded, 0);
  const unfinished = deployed.reduce((s, b) => s + b.unfinished, 0);
  report.section(`planning / dispatch (${NODES} deployments)`);
  for (const b of deployed) {
    const tail = b.failed || b.unfinished ? ` (${b.failed} failed, ${b.unfinished} unfinished)` : '';
    report.add(`DeployNodes ${b.vo} ×${b.count}: stream ended after`, `${secs(b.ms)}${tail}`);
    for (const e of b.errors) log(`  ${b.vo}: ${e}`);
  }
  report.add(`all ${NODES} nodes running (client wall time)`, unfinished ? `not within ${budgetMs / 1000} s` : secs(ms));
  report.add('succeeded (streams) / RUNNING (ListNodes)', `${ok} / ${running ?? 'n/a'}`);
  report.add('deployments per second', rate(ok, ms, 'deployments'));
  dispatchFigures(report, after, 'deployment phase', before);
  report.section('events (WatchEvents subscriber)');
  // The coordinator publishes an operation and a node event for every deployment as it is submitted.
  const starved = eventCount < 2 * NODES ? ` (starved: < ${2 * NODES} submission events)` : '';
  report.add('events during the deployment phase', `${eventCount}${starved}`);
  report.add('event throughput during the deployment phase', rate(eventCount, ms, 'events'));
  // No agent dies in this phase: a DOWN here is a live agent whose heartbeats the coordinator handled too late.
  const falseDown = events.hostDownAt.filter((t) => t >= t0).length;
  report.add('host-DOWN events during the deployments (no agent died)', `${falseDown}${starved}`);
  if (falseDown) log(`WARNING: the coordinator marked live agents DOWN ${falseDown} times while deploying (heartbeats handled too late)`);
  report.section('responsiveness during the deployments');
  const loopP99 = after.get(loopP99Metric);
  report.add('event-loop delay p99 (monitorEventLoopDelay, this phase)', millis(loopP99), { text: '< 200 ms', pass: loopP99 < TARGETS.loopP99S });
  report.add('heartbeats answered after more than 1 s (agents\' view)', `${beats.late} of ${beats.total} (slowest ${millis(beats.maxMs / 1000)})`, { text: '0', pass: beats.late === 0 });
  report.add('health checks answered after more than 1 s or not at all', `${health.late + health.failed} of ${health.checks} (slowest ${millis(health.maxMs / 1000)})`, { text: '0', pass: health.late + health.failed === 0 });
  const cpuS = after.get(cpuMetric) - before.get(cpuMetric);
  // The heartbeats of the phase cost the same whatever is deployed: the cost per deployment is net of them.
  const heartbeatCpuS = ((json['heartbeat_cpu_ms'] as number | null) ?? 0) * beats.total / 1000;
  const entry = {
    deployments: NODES, deploy_wall_s: ms / 1000, deployments_per_s: ok / (ms / 1000), coordinator_cpu_s: cpuS,
    cpu_ms_per_deployment: (cpuS * 1000) / NODES, net_cpu_ms_per_deployment: ((cpuS - heartbeatCpuS) * 1000) / NODES,
    wall_ms_per_deployment: ms / NODES, event_loop_delay_p99_ms: loopP99 * 1000,
    heartbeat_late: beats.late, heartbeats: beats.total, false_down: falseDown, succeeded: ok, health_checks: health.checks, health_late: health.late + health.failed,
  };
  (json['curve'] as unknown[]).push(entry);
  if (NODES === CURVE[CURVE.length - 1]) {
    Object.assign(json, {
      deploy_wall_s: entry.deploy_wall_s, deployments_per_s: entry.deployments_per_s, dispatch_p99_ms: after.get('vonode_dispatch_pass_seconds', { quantile: '0.99' }) * 1000,
      event_loop_delay_p99_ms: entry.event_loop_delay_p99_ms, heartbeat_late: beats.late, heartbeats: beats.total, false_down: falseDown,
      health_late: entry.health_late,
    });
  }
  return { finished: unfinished === 0, after };
}

/** Coordinator CPU per heartbeat while nothing else happens (3 heartbeat intervals). */
async function quietHeartbeats(before: MetricsScrape): Promise<MetricsScrape> {
  const beats0 = await heartbeatStats(fleet);
  await systemClock.sleep(3 * HEARTBEAT_S * 1000);
  const after = await scrape('after the quiet heartbeats');
  const beats = diffBeats(await heartbeatStats(fleet), beats0);
  const cpuMs = (after.get(cpuMetric) - before.get(cpuMetric)) * 1000;
  const perBeat = beats.total ? cpuMs / beats.total : Number.NaN;
  report.add(`coordinator CPU per heartbeat (${beats.total} in ${3 * HEARTBEAT_S} s, nothing else)`, `${perBeat.toFixed(3)} ms`);
  json['heartbeat_cpu_ms'] = Number.isFinite(perBeat) ? perBeat : null;
  return after;
}

function diffBeats(now: HeartbeatStats, before: HeartbeatStats): HeartbeatStats {
  return { total: now.total - before.total, late: now.late - before.late, maxMs: now.maxMs };
}

/** The scaling curve: cost per deployment at each size, and the largest against the smallest. */
function printCurve(): void {
  type Point = { deployments: number; deploy_wall_s: number; coordinator_cpu_s: number; cpu_ms_per_deployment: number; net_cpu_ms_per_deployment: number; wall_ms_per_deployment: number };
  const curve = json['curve'] as Point[];
  if (curve.length < 2) return;
  report.section('scaling curve (cost per deployment)');
  for (const c of curve) {
    report.add(`${c.deployments} deployments: wall; coordinator CPU`, `${secs(c.deploy_wall_s * 1000)}; ${secs(c.coordinator_cpu_s * 1000)}`);
    report.add(`  each: CPU (net of heartbeats); wall`, `${c.cpu_ms_per_deployment.toFixed(2)} (${c.net_cpu_ms_per_deployment.toFixed(2)}) ms; ${c.wall_ms_per_deployment.toFixed(2)} ms`);
  }
  const [first, last] = [curve[0]!, curve[curve.length - 1]!];
  const ratio = last.net_cpu_ms_per_deployment / first.net_cpu_ms_per_deployment;
  Object.assign(json, { cost_ratio: ratio, cost_ratio_raw: last.cpu_ms_per_deployment / first.cpu_ms_per_deployment, wall_ratio: last.wall_ms_per_deployment / first.wall_ms_per_deployment });
  report.add(`CPU per deployment (net of heartbeats) at ${last.deployments} / at ${first.deployments}`, `${ratio.toFixed(2)}×`, { text: '≤ 2×', pass: ratio <= TARGETS.costRatio });
  report.add(`the same, raw; wall time per deployment`, `${(json['cost_ratio_raw'] as number).toFixed(2)}×; ${(json['wall_ratio'] as number).toFixed(2)}×`);
}

/** SIGKILLs one fleet process, times the coordinator noticing, restarts it; returns false if a step ran out of time. */
async function deadAgentPhase(client: CoordinatorClient, victim: FleetSlice): Promise<boolean> {
  report.section('dead agent detection');
  await systemClock.sleep(500); // the fleet writes its state file 50 ms after the last change
  log(`SIGKILL simulated fleet ${victim.index} (pid ${victim.child!.pid}, ${victim.count} agents)`);
  const t0 = now();
  await processes.stop(victim.child!, 'SIGKILL');
  try {
    const deadMs = await waitForHosts(client, `${victim.count} killed agents DOWN`, (h) => hostCounts(h, victim.names).down >= victim.count, t0, limit(30_000), POLL_MS);
    report.add(`SIGKILL of ${victim.count} agents → all DOWN (downAfter ${DOWN_AFTER_S} s)`, secs(deadMs), { text: `< ${TARGETS.deadMs / 1000} s`, pass: deadMs < TARGETS.deadMs });
    json['dead_detect_s'] = deadMs / 1000;
    const hosts = (await within(capped(30_000), 'ListHosts', client.listHosts())).hosts;
    report.add('the other agents still UP', `${hostCounts(hosts).up} / ${AGENTS - victim.count}`);
  } catch (e) {
    log(errorMessage(e));
    report.add(`SIGKILL of ${victim.count} agents → all DOWN (downAfter ${DOWN_AFTER_S} s)`, 'not seen in time', { text: `< ${TARGETS.deadMs / 1000} s`, pass: false });
  }
  log(`restarting simulated fleet ${victim.index}; it reports the same domains (as agents restarted on their hosts)`);
  const t1 = now();
  startFleet(processes, victim, site.port, pkiDir());
  try {
    const ms = await waitForHosts(client, `${AGENTS} agents UP again`, (h) => hostCounts(h).up >= AGENTS, t1, limit(60_000), POLL_MS);
    report.add(`restarted fleet → its ${victim.count} agents UP again`, secs(ms));
    return true;
  } catch (e) {
    log(errorMessage(e));
    report.add(`restarted fleet → its ${victim.count} agents UP again`, 'not seen in time');
    return false;
  }
}

/** RemoveNode for every leased node, 64 at a time; returns false if some did not finish in time. */
async function removalPhase(client: CoordinatorClient, title: string): Promise<boolean> {
  report.section(title);
  const leased = await within(capped(30_000), 'ListNodes', client.listNodes()).then((r) => r.nodes.map((n) => n.hostname), (e: unknown) => (log(errorMessage(e)), []));
  const budgetMs = Math.max(10_000, TIMEOUT_MS - (now() - T0) - 30_000);
  log(`removing ${leased.length} nodes (RemoveNode, 64 at a time), limit ${(budgetMs / 1000).toFixed(0)} s`);
  const removed = await removeNodes(client, leased, 64, limit(budgetMs));
  for (const e of removed.errors) log(`  remove: ${e}`);
  const left = await within(capped(30_000), 'ListNodes', client.listNodes()).then((r) => String(r.nodes.length), () => 'n/a');
  report.add(`all ${leased.length} removals finished (client wall time)`, removed.unfinished ? `not within ${(budgetMs / 1000).toFixed(0)} s` : secs(removed.ms));
  report.add('removed / failed / unfinished; nodes left', `${removed.succeeded} / ${removed.failed} / ${removed.unfinished}; ${left}`);
  report.add('removals per second', rate(removed.succeeded, removed.ms, 'removals'));
  json['removal_s'] = removed.ms / 1000;
  return removed.unfinished === 0 && removed.failed === 0;
}

/** Dispatch-pass (planning cycle) figures from the Summary; with `before`, also what the phase added. */
function dispatchFigures(r: BenchReport, after: MetricsScrape, what: string, before?: MetricsScrape, judge = true): void {
  const name = 'vonode_dispatch_pass_seconds';
  const q = (x: string): number => after.get(name, { quantile: x });
  r.add(`dispatch pass p50 / p90 (Summary, last 10 min)`, `${millis(q('0.5'))} / ${millis(q('0.9'))}`);
  const p99 = q('0.99');
  r.add(`dispatch pass p99 (Summary, last 10 min)`, millis(p99), judge ? { text: '< 100 ms', pass: p99 < TARGETS.passP99S } : undefined);
  if (!before) return r.add(`dispatch passes (${what})`, String(after.get(`${name}_count`)));
  const count = after.get(`${name}_count`) - before.get(`${name}_count`);
  const sum = after.get(`${name}_sum`) - before.get(`${name}_sum`);
  r.add(`dispatch passes in the ${what}; mean; total busy`, `${count}; ${millis(sum / count)}; ${secs(sum * 1000)}`);
}

async function printProfile(profDir: string): Promise<void> {
  // --cpu-prof also profiles tsx's loader thread; the main thread's profile is the largest file.
  const files = (await readdir(profDir).catch(() => [] as string[])).filter((x) => x.endsWith('.cpuprofile'));
  const sized = await Promise.all(files.map(async (f) => ({ f: path.join(profDir, f), size: (await stat(path.join(profDir, f))).size })));
  const main = sized.sort((a, b) => b.size - a.size)[0];
  if (!main) return console.log(`\nno CPU profile in ${profDir} (the coordinator did not exit cleanly)`);
  console.log(`\ncoordinator CPU profile (main thread) ${main.f}, top self time:`);
  for (const line of await topSelfTime(main.f)) console.log(line);
}
