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
//   [--batches 4] [--pool 1500] [--max-transfers 2] [--deploy-timeout 120] [--timeout 300]
//   [--insecure] [--cpu-prof] [--keep]
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { NodeState } from '../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { BenchProcesses, waitForJsonLine, type BenchChild } from './lib/bench-processes.js';
import { BenchReport, mb, millis, rate, secs } from './lib/bench-report.js';
import { BenchSite } from './lib/bench-site.js';
import { summarizeCoordinatorLog } from './lib/coordinator-log-summary.js';
import { topSelfTime } from './lib/cpu-profile-summary.js';
import { planFleet, startFleet, type FleetSlice } from './lib/fleet-launcher.js';
import { procMemory, tryScrape, type MetricsScrape } from './lib/prom-text.js';
import { deployBatches, EventCounter, hostCounts, removeNodes, waitForHosts, within, type DeployBatch } from './lib/site-probes.js';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '500' }, procs: { type: 'string', default: '4' }, nodes: { type: 'string', default: '1000' },
    batches: { type: 'string', default: '4' }, pool: { type: 'string', default: '1500' }, 'max-transfers': { type: 'string', default: '2' },
    'deploy-timeout': { type: 'string', default: '120' }, timeout: { type: 'string', default: '300' },
    insecure: { type: 'boolean', default: false }, 'cpu-prof': { type: 'boolean', default: false }, keep: { type: 'boolean', default: false },
  },
});
const AGENTS = Number(values.agents);
const PROCS = Number(values.procs);
const NODES = Number(values.nodes);
const BATCHES = Number(values.batches);
const TIMEOUT_MS = Number(values.timeout) * 1000;
const DOWN_AFTER_S = 3;
const TARGETS = { registrationMs: 10_000, passP99S: 0.1, rssBytes: 500e6, deadMs: 5000 };
if (NODES > Number(values.pool)) throw new Error(`--nodes ${NODES} is more than the pool (--pool ${values.pool})`);
if (PROCS < 2) throw new Error('--procs must be at least 2 (one fleet process is killed to test dead-agent detection)');

const T0 = systemClock.monotonicMs();
const now = (): number => systemClock.monotonicMs();
const log = (line: string): void => void process.stderr.write(`[${((now() - T0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
const overallAbort = new AbortController();
setTimeout(() => overallAbort.abort(new Error(`the overall time limit (${TIMEOUT_MS / 1000} s) was reached`)), TIMEOUT_MS).unref();
const overall = overallAbort.signal;
/** Time left before the overall deadline, at least 1 ms. */
const remaining = (): number => Math.max(1, TIMEOUT_MS - (now() - T0));
/**
 * A step's signal: its own limit, and never past the overall deadline. (Not
 * AbortSignal.any + AbortSignal.timeout: Node 20 may garbage-collect the
 * timeout signal, which then never fires.)
 */
const limit = (ms: number): AbortSignal => {
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(new Error(`step time limit (${(ms / 1000).toFixed(0)} s) reached`)), Math.round(Math.min(ms, remaining())));
  const onOverall = (): void => c.abort(overall.reason);
  overall.addEventListener('abort', onOverall, { once: true });
  c.signal.addEventListener('abort', () => (clearTimeout(timer), overall.removeEventListener('abort', onOverall)), { once: true });
  return c.signal;
};
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

const site = new BenchSite({
  dir, poolSize: Number(values.pool), agents: AGENTS, insecure: values.insecure, maxConcurrentTransfers: Number(values['max-transfers']),
  nodeArgs: values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.join(dir, 'cpu-prof')] : [],
});
const fleet = planFleet(AGENTS, PROCS, dir);
const pkiDir = (): string | undefined => (values.insecure ? undefined : site.pki);
const scrape = (what: string): Promise<MetricsScrape> => tryScrape(site.metricsPort, Math.min(15_000, remaining() + 5000), (e) => log(`/metrics ${what}: ${errorMessage(e)}`));
/** At most `ms`, and at most 5 s past the overall deadline. */
const capped = (ms: number): number => Math.min(ms, remaining() + 5000);
const rssMetric = 'vonode_coordinator_process_resident_memory_bytes';
let complete = true;

try {
  await site.prepare();
  const coordinator = await site.startCoordinator(processes);
  const client = site.client();
  const events = new EventCounter(client);
  events.start();
  printSetup(coordinator);

  // 1. Registration: fleet start → ListHosts shows every agent UP (fatal if it never happens).
  report.section('registration');
  log(`starting ${PROCS} simulated fleet processes (${AGENTS} agents)`);
  const t1 = now();
  const listening = fleet.map((f) => waitForJsonLine(startFleet(processes, f, site.port, pkiDir()), 'listening', 60_000).then(() => now() - t1));
  for (const l of listening) l.catch(() => undefined); // awaited below; a failure must not surface as unhandled first
  const registrationMs = await waitForHosts(client, `${AGENTS} agents UP`, (h) => hostCounts(h).up >= AGENTS, t1, limit(60_000));
  report.add(`simulated fleet processes listening (${AGENTS} servers)`, secs(Math.max(...(await Promise.all(listening)))));
  const ups = events.hostUpAt.filter((t) => t >= t1);
  if (ups.length) report.add(`host-UP events (WatchEvents): first → last of ${ups.length}`, `${secs(ups[0]! - t1)} → ${secs(ups[ups.length - 1]! - t1)}`);
  report.add(`fleet start → all ${AGENTS} agents UP (ListHosts)`, secs(registrationMs), { text: '< 10 s', pass: registrationMs < TARGETS.registrationMs });
  log(`all ${AGENTS} agents UP after ${secs(registrationMs)}; letting heartbeats settle for 3 s`);
  await systemClock.sleep(3000);
  const mReg = await scrape('after registration');

  // 2.+3. Deployments through DeployNodes; dispatch passes from /metrics; events from WatchEvents.
  const deployed = await deployPhase(client, events, mReg);
  complete = deployed.finished && complete;
  const mDep = deployed.after;
  const memDep = await procMemory(coordinator.pid);

  // 5. Dead agent: SIGKILL one fleet process; time until ListHosts shows all of its agents DOWN; restart it.
  complete = (await deadAgentPhase(client, fleet[fleet.length - 1]!)) && complete;

  // 6. Remove every node.
  complete = (await removalPhase(client)) && complete;

  // 4. Memory, and the dispatch passes of the whole run.
  const mEnd = await scrape('at the end');
  const memEnd = await procMemory(coordinator.pid);
  report.section('coordinator memory');
  report.add(`RSS after registration (/metrics, ${AGENTS} agents)`, mb(mReg.get(rssMetric)));
  report.add(`RSS after the deployments (/metrics; /proc VmRSS)`, `${mb(mDep.get(rssMetric))}; ${mb(memDep.rss)}`);
  report.add('RSS at the end (/metrics; /proc VmRSS)', `${mb(mEnd.get(rssMetric))}; ${mb(memEnd.rss)}`);
  const peak = Math.max(memEnd.hwm, memEnd.rss, ...[mReg, mDep, mEnd].map((m) => m.get(rssMetric)).filter(Number.isFinite));
  report.add('peak RSS (/proc VmHWM)', mb(peak), { text: '< 500 MB', pass: peak < TARGETS.rssBytes });
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
} catch (err) {
  log(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
  console.log(`\n${report.render()}\n\nbenchmark failed: ${errorMessage(err)}; logs: ${dir}/coordinator.log, ${dir}/fleet-*.log`);
  complete = false;
} finally {
  // Fleets first, then the coordinator with SIGTERM (clean SQLite close; --cpu-prof writes its profile on exit).
  const kids = processes.children;
  await Promise.all(kids.filter((c) => c.label !== 'coordinator').map((c) => processes.stop(c, 'SIGTERM', 5000)));
  await Promise.all(kids.filter((c) => c.label === 'coordinator').map((c) => processes.stop(c, 'SIGTERM', values['cpu-prof'] ? 60_000 : 10_000)));
  if (values['cpu-prof']) await printProfile(path.join(dir, 'cpu-prof'));
  clearTimeout(hardStop);
  if (values.keep || !complete || values['cpu-prof']) console.log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
process.exit(complete ? 0 : 1);

function printSetup(coordinator: BenchChild): void {
  const entry = path.relative(process.cwd(), site.entry.script);
  const how = entry.endsWith('.ts') ? `node --import tsx ${entry}` : `node ${entry}`;
  const tls = values.insecure ? 'INSECURE (--insecure, no TLS)' : 'mutual TLS (scripts/pki; one certificate shared by all simulated agents)';
  console.log(`coordinator: pid ${coordinator.pid}, ${how} (${site.entry.why}), ${tls}`);
  console.log(`site: pool ${values.pool} triples, heartbeat 1 s, downAfter ${DOWN_AFTER_S} s, maxConcurrentTransfers ${values['max-transfers']}, ` +
    `policy bio (weight 2) / fusion (weight 5), 1 vCPU / 512 MiB per node; ${os.cpus().length} cores, Node ${process.version}`);
  console.log(`SIMULATED agents: ${AGENTS} in ${PROCS} processes (${fleet.map((f) => f.count).join('+')}), each with its own gRPC server and ` +
    `coordinator connection, registering and heartbeating through the real CoordinatorLink; facts 16 CPUs / 64 GiB; phases ~10-45 ms\n`);
}

/** Deploys NODES nodes in BATCHES concurrent DeployNodes calls; says whether all finished in time, with the /metrics scrape taken after. */
async function deployPhase(client: CoordinatorClient, events: EventCounter, before: MetricsScrape): Promise<{ finished: boolean; after: MetricsScrape }> {
  const perBatch = Math.ceil(NODES / BATCHES);
  const batches: DeployBatch[] = Array.from({ length: BATCHES }, (_, i) => ({ vo: i % 2 ? 'fusion' : 'bio', count: Math.min(perBatch, NODES - i * perBatch) }))
    .filter((b) => b.count > 0);
  const budgetMs = Number(values['deploy-timeout']) * 1000;
  log(`deploying ${NODES} nodes: ${batches.length} concurrent DeployNodes calls (${batches.map((b) => `${b.vo} ${b.count}`).join(', ')}), limit ${budgetMs / 1000} s`);
  const events0 = events.total;
  const ok0 = events.succeeded;
  const t0 = now();
  const progress = setInterval(() => log(`  ${events.succeeded - ok0} deployments succeeded, ${events.total - events0} events so far`), 10_000);
  const deployed = await deployBatches(client, batches, limit(budgetMs)).finally(() => clearInterval(progress));
  const ms = now() - t0;
  const eventCount = events.total - events0;
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
  return { finished: unfinished === 0, after };
}

/** SIGKILLs one fleet process, times the coordinator noticing, restarts it; returns false if a step ran out of time. */
async function deadAgentPhase(client: CoordinatorClient, victim: FleetSlice): Promise<boolean> {
  report.section('dead agent detection');
  await systemClock.sleep(500); // the fleet writes its state file 50 ms after the last change
  log(`SIGKILL simulated fleet ${victim.index} (pid ${victim.child!.pid}, ${victim.count} agents)`);
  const t0 = now();
  await processes.stop(victim.child!, 'SIGKILL');
  try {
    const deadMs = await waitForHosts(client, `${victim.count} killed agents DOWN`, (h) => hostCounts(h, victim.names).down >= victim.count, t0, limit(30_000));
    report.add(`SIGKILL of ${victim.count} agents → all DOWN (downAfter ${DOWN_AFTER_S} s)`, secs(deadMs), { text: '< 5 s', pass: deadMs < TARGETS.deadMs });
    const hosts = (await within(capped(30_000), 'ListHosts', client.listHosts())).hosts;
    report.add('the other agents still UP', `${hostCounts(hosts).up} / ${AGENTS - victim.count}`);
  } catch (e) {
    log(errorMessage(e));
    report.add(`SIGKILL of ${victim.count} agents → all DOWN (downAfter ${DOWN_AFTER_S} s)`, 'not seen in time', { text: '< 5 s', pass: false });
  }
  log(`restarting simulated fleet ${victim.index}; it reports the same domains (as agents restarted on their hosts)`);
  const t1 = now();
  startFleet(processes, victim, site.port, pkiDir());
  try {
    const ms = await waitForHosts(client, `${AGENTS} agents UP again`, (h) => hostCounts(h).up >= AGENTS, t1, limit(60_000));
    report.add(`restarted fleet → its ${victim.count} agents UP again`, secs(ms));
    return true;
  } catch (e) {
    log(errorMessage(e));
    report.add(`restarted fleet → its ${victim.count} agents UP again`, 'not seen in time');
    return false;
  }
}

/** RemoveNode for every leased node, 64 at a time; returns false if some did not finish in time. */
async function removalPhase(client: CoordinatorClient): Promise<boolean> {
  report.section('removal');
  const leased = await within(capped(30_000), 'ListNodes', client.listNodes()).then((r) => r.nodes.map((n) => n.hostname), (e: unknown) => (log(errorMessage(e)), []));
  const budgetMs = Math.max(10_000, TIMEOUT_MS - (now() - T0) - 30_000);
  log(`removing ${leased.length} nodes (RemoveNode, 64 at a time), limit ${(budgetMs / 1000).toFixed(0)} s`);
  const removed = await removeNodes(client, leased, 64, limit(budgetMs));
  for (const e of removed.errors) log(`  remove: ${e}`);
  const left = await within(capped(30_000), 'ListNodes', client.listNodes()).then((r) => String(r.nodes.length), () => 'n/a');
  report.add(`all ${leased.length} removals finished (client wall time)`, removed.unfinished ? `not within ${(budgetMs / 1000).toFixed(0)} s` : secs(removed.ms));
  report.add('removed / failed / unfinished; nodes left', `${removed.succeeded} / ${removed.failed} / ${removed.unfinished}; ${left}`);
  report.add('removals per second', rate(removed.succeeded, removed.ms, 'removals'));
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
