// Benchmark of the web console at scale (issue: "updates through server-sent
// events ... it stays responsive with 500 hosts and 5,000 nodes (measure it
// with the scale bench's simulated agents)"). One REAL vonode-coordinator
// process (mutual TLS; its console on 127.0.0.1 with a bearer token of a
// tokens file), a SIMULATED agent fleet (--agents in --procs child processes,
// scripts/bench/lib/simulated-agent-fleet.ts, as coordinator-scale runs it) and
// Debian's chromium headless (puppeteer-core), logged in through the login form.
//
// How it measures what a user sees:
// - PAGE_PROBE (lib/console-page-probe.ts) runs in the page before the app: it
//   counts the app's own /api/events messages and bytes, records main-thread
//   long tasks, and keeps every change of the node count the nodes view shows
//   with its wall time (Date.now()).
// - The bench's own WatchEvents subscriber (lib/running-count-tracker.ts)
//   keeps when the coordinator's count of running (and leased) nodes changed,
//   by the event's unixMs stamp (the coordinator's clock, the same host clock).
// 0. Baseline (unless --skip-baseline): the same burst with the console on and
//    no page open, then every node removed: the page's burst against it shows
//    what an open page costs the coordinator (chromium's CPU on the same
//    cores included). The simulated agents start with the appliance in their
//    caches, so both bursts run warm (no image transfers): the same work twice.
//    One pair of bursts on a shared 2-core machine is noisy: repeat the run
//    before reading much into a ratio near 1.
// 1. Burst: the page sits on the running nodes (#/nodes?state=NODE_STATE_RUNNING)
//    while --nodes deployments go out through DeployNodes (batches as
//    coordinator-scale sends them). Lag for each N = the first render showing
//    ≥ N running minus the coordinator event that made N running; p50 and max
//    over every N. It includes the server's 100 ms batching, the per-frame
//    render and the nodes view's 400 ms throttle: what a user waits for.
// 2. With the nodes in place, --runs times each: a fresh tab's load
//    (navigation start → the nodes view shows its first row and "of N"),
//    /api/nodes and /api/hosts fetched from the page, the VO filter (select →
//    the first frame showing that VO's count); once: the JS heap after a GC
//    (CDP), the hosts view's render, the coordinator's RSS.
// 3. Removal with the page on #/nodes: the coordinator's last removal event →
//    the first render showing "0 nodes".
// Every step has a time limit; loopback only; every child (and chromium) is
// killed by PID. Nothing runs next to the page that a real browser would not
// have, except puppeteer's CDP connection.
// Usage: npm run bench:console-scale -- [--agents 500] [--procs 4] [--nodes 5000] [--runs 3] [--batches 4]
//   [--deploy-timeout 300] [--timeout 900] [--skip-baseline] [--profile] [--keep] [--json FILE]
// Needs the built console (npm run build: dist/console) and Debian's chromium; the coordinator is built by BenchSite.
// --profile records a CDP CPU profile of the page during the burst and prints its top self time,
//   mapped to the console's sources through dist/console/assets/app.js.map (the profiler costs a little).
// --json FILE writes (seconds and ms as numbers, repeated runs as arrays, null where not measured): agents, nodes,
// runs, procs, cores, page_load_s[], nodes_api_ms[], nodes_api_bytes, hosts_api_ms[], hosts_api_bytes, filter_ms[],
// hosts_view_ms, burst_s (first DeployNodes → the last node running, by the coordinator's stamps), burst_streams_s
// (until every DeployNodes stream ended), nodes_running, burst_events and burst_sse_bytes (the page's stream),
// sse_reconnects, long_tasks, long_task_total_ms, long_task_max_ms, page_busy_s, page_script_s, page_layout_s,
// page_style_s, page_lag_p50_ms, page_lag_p90_ms, page_lag_max_ms, page_lag_never_shown, page_behind_max_nodes,
// empty_after_removal_s, heap_mb, coordinator_cpu_s (during the burst), coordinator_rss_mb (peak, VmHWM),
// baseline_burst_s, baseline_coordinator_cpu_s, burst_vs_baseline, coordinator_cpu_vs_baseline, and
// benchmark, started_at, finished_at, complete, unfinished_steps, error.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { systemClock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { launchConsoleBrowser } from '../testbed/lib/console-browser.js';
import { freePort } from '../testbed/lib/free-port.js';
import { parseBenchArgs, usageError } from './lib/bench-cli.js';
import { finiteOrNull, runOutcome, writeBenchJson } from './lib/bench-json.js';
import { BenchProcesses, waitForJsonLine } from './lib/bench-processes.js';
import { BenchReport, mb, secs } from './lib/bench-report.js';
import { BenchSite, ROOT } from './lib/bench-site.js';
import { checkConsoleBundle, CONSOLE_BUNDLE } from './lib/console-bundle.js';
import { ConsolePage, type PageWaits } from './lib/console-page.js';
import { ConsoleScaleTable, metricsDelta } from './lib/console-scale-table.js';
import { newConsoleLogin, writeTokensFile } from './lib/console-token.js';
import { afterBurst, nodeCounts, pageLoads, type ViewTimingContext } from './lib/console-view-timings.js';
import { DeployBursts } from './lib/deploy-burst.js';
import { prewarmFleetCaches } from './lib/fleet-cache-prewarm.js';
import { planFleet, startFleet } from './lib/fleet-launcher.js';
import { startProfiler } from './lib/page-cpu-profiler.js';
import { procMemory, tryScrape } from './lib/prom-text.js';
import { RunningCountTracker } from './lib/running-count-tracker.js';
import { hostCounts, waitForHosts, within } from './lib/site-probes.js';
import { startStepDeadline } from './lib/step-deadline.js';

const CLI = {
  name: 'bench:console-scale',
  usage: 'usage: console-scale.ts [--agents 500] [--procs 4] [--nodes 5000] [--runs 3] [--batches 4] [--deploy-timeout 300] [--timeout 900] [--skip-baseline] [--profile] [--keep] [--json FILE]',
};
const values = parseBenchArgs(CLI, {
  agents: { type: 'string', default: '500' }, procs: { type: 'string', default: '4' }, nodes: { type: 'string', default: '5000' },
  runs: { type: 'string', default: '3' }, batches: { type: 'string', default: '4' }, 'deploy-timeout': { type: 'string', default: '300' },
  timeout: { type: 'string', default: '900' }, profile: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false },
  'skip-baseline': { type: 'boolean', default: false },
});
const whole = (flag: 'agents' | 'procs' | 'nodes' | 'runs' | 'batches' | 'deploy-timeout' | 'timeout', min: number): number => {
  const n = Number(values[flag]);
  return Number.isInteger(n) && n >= min ? n : usageError(CLI, `--${flag} must be a whole number from ${min} up, got ${values[flag]}`);
};
const AGENTS = whole('agents', 1);
const PROCS = whole('procs', 1);
const NODES = whole('nodes', 2);
const RUNS = whole('runs', 1);
const BATCHES = whole('batches', 1);
const DEPLOY_MS = whole('deploy-timeout', 10) * 1000;
const TIMEOUT_MS = whole('timeout', 60) * 1000;
/** Room after the last deployment ended for the page to show it (a page further behind than this has failed). */
const CATCH_UP_MS = 120_000;
/** ListHosts polling while the fleet registers (coordinator-scale's rate for ≤ 500 agents). */
const POLL_MS = AGENTS > 500 ? 500 : 100;

const T0 = systemClock.monotonicMs();
const now = (): number => systemClock.monotonicMs();
const log = (line: string): void => void process.stderr.write(`[${((now() - T0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
/** The overall deadline: capped(ms) bounds a wait, limit(ms) is a step's signal; neither runs past it. */
const deadline = startStepDeadline(TIMEOUT_MS);
const { capped, limit } = deadline;
const waits: PageWaits = { capped, log };

const startedAt = new Date();
/** The run's steps in order; each is added to `done` when finished (the rest go to --json's unfinished_steps). */
const STEPS = ['site', ...(values['skip-baseline'] ? [] : ['baseline']), 'page', 'burst', 'after_burst', 'page_load', 'removal'];
const done = new Set<string>();
const dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-console-scale-'));
const processes = new BenchProcesses();
const report = new BenchReport();
const json: Record<string, unknown> = { agents: AGENTS, nodes: NODES, runs: RUNS, procs: PROCS, cores: os.cpus().length };
const table = new ConsoleScaleTable(report, json);
const views: ViewTimingContext = { table, runs: RUNS, agents: AGENTS, waits };
let browser: Browser | undefined;
let browserPid: number | undefined;
let failure: unknown;
const killBrowserNow = (): void => {
  try {
    if (browserPid !== undefined) process.kill(browserPid, 'SIGKILL');
  } catch {
    // already gone
  }
};
// Failsafe: whatever hangs, no child outlives the benchmark, and what was measured is printed.
const hardStop = setTimeout(() => {
  console.log(`\n${report.render()}\n`);
  log(`the run did not end ${(TIMEOUT_MS + 90_000) / 1000} s after it started: killing every child by PID; logs in ${dir}`);
  processes.killAllNow();
  killBrowserNow();
  process.exit(1);
}, TIMEOUT_MS + 90_000);
process.on('exit', () => (processes.killAllNow(), killBrowserNow()));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => (processes.killAllNow(), killBrowserNow(), process.exit(130)));

// The console on loopback with a fresh token (its tokens file is written before the site).
const consolePort = await freePort();
const login = newConsoleLogin(dir, consolePort);
const site = new BenchSite({
  dir, poolSize: NODES, heartbeatS: 1, agents: AGENTS, insecure: false, maxConcurrentTransfers: 2, nodeArgs: [], coordinatorConfig: login.coordinatorConfig,
});
const fleet = planFleet(AGENTS, PROCS, dir);
const scrape = (what: string): ReturnType<typeof tryScrape> => tryScrape(site.metricsPort, capped(15_000), (e) => log(`/metrics ${what}: ${errorMessage(e)}`));

try {
  const bundleNote = await checkConsoleBundle();
  await writeTokensFile(login);
  await site.prepare();
  const coordinator = await site.startCoordinator(processes);
  const client = site.client();
  // The observer on a connection of its own, as `vonode events` would be. During a burst its stream may trail the
  // coordinator (by a minute at 5,000 deployments here): the figures use the events' own stamps, once it has caught up.
  const watcher = new CoordinatorClient(`127.0.0.1:${site.port}`, site.credentials('cli'), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.use_local_subchannel_pool': 1 });
  const tracker = new RunningCountTracker(watcher, log);
  tracker.start();
  const bursts = new DeployBursts({ client, tracker, deadline, scrape, log }, { nodes: NODES, batches: BATCHES, deployMs: DEPLOY_MS });
  await prewarmFleetCaches(client, fleet, capped(30_000), log);
  await registerFleet(client);
  done.add('site');
  if (!values['skip-baseline'] && (await bursts.baseline(table))) done.add('baseline');

  browser = await launchConsoleBrowser(path.join(site.pki, 'coordinator.pem'));
  browserPid = browser.process()?.pid;
  const base = `https://127.0.0.1:${consolePort}`;
  printSetup(coordinator.pid, base, bundleNote, await browser.version());
  const page = await ConsolePage.open(browser, base, login.token, waits);
  done.add('page');

  const burst = await burstPhase(bursts, page, tracker);
  if (burst) done.add('burst');
  const counts = await nodeCounts(client, waits);
  await afterBurst(views, page, counts);
  done.add('after_burst');
  await pageLoads(views, browser, base, counts.total);
  done.add('page_load');
  await page.page.bringToFront();
  if (await removalPhase(bursts, page, tracker)) done.add('removal');

  const memEnd = await procMemory(coordinator.pid);
  // VmHWM covers the whole run; the /metrics RSS after the burst stands in if /proc was unreadable.
  json['coordinator_rss_mb'] = finiteOrNull(Number.isFinite(memEnd.hwm) ? memEnd.hwm / 1e6 : ((json['coordinator_rss_mb'] as number | null) ?? NaN));
  report.add('coordinator peak RSS (/proc VmHWM, whole run)', mb(memEnd.hwm));
  if (tracker.error) log(`the bench's WatchEvents stream ended early: ${tracker.error}`);
  await tracker.stop();
  watcher.close();
  client.close();
} catch (err) {
  failure = err;
  log(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  console.log(`\n${report.render()}\n`);
  table.printVerdicts();
  await closeBrowser();
  // Fleets first, then the coordinator with SIGTERM (a clean SQLite close).
  const kids = processes.children;
  await Promise.all(kids.filter((c) => c.label !== 'coordinator').map((c) => processes.stop(c, 'SIGTERM', 5000)));
  await Promise.all(kids.filter((c) => c.label === 'coordinator').map((c) => processes.stop(c, 'SIGTERM', 10_000)));
  const outcome = runOutcome('console-scale', startedAt, STEPS, done, failure);
  if (values.json) {
    await writeBenchJson(values.json, { ...outcome, ...json }).catch((e: unknown) => (process.exitCode = 1, log(`--json ${values.json}: ${errorMessage(e)}`)));
  }
  clearTimeout(hardStop);
  if (failure !== undefined) console.log(`benchmark failed: ${errorMessage(failure)}; logs: ${dir}/coordinator.log, ${dir}/fleet-*.log`);
  if (values.keep || outcome['complete'] !== true) console.log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
process.exit(done.size === STEPS.length && failure === undefined ? 0 : 1);

/** Starts the simulated fleet and waits (≤ 180 s) until every agent is UP; throws if they never are. */
async function registerFleet(client: CoordinatorClient): Promise<void> {
  log(`starting ${PROCS} simulated fleet processes (${AGENTS} agents)`);
  const t1 = now();
  const listening = fleet.map((f) => waitForJsonLine(startFleet(processes, f, site.port, site.pki), 'listening', 60_000));
  for (const l of listening) l.catch(() => undefined); // awaited below; a failure must not surface as unhandled first
  const ms = await waitForHosts(client, `${AGENTS} agents UP`, (h) => hostCounts(h).up >= AGENTS, t1, limit(180_000), POLL_MS);
  await Promise.all(listening);
  report.section('site');
  report.add(`fleet start → all ${AGENTS} simulated agents UP`, secs(ms));
}

/** The setup lines above the table: what runs where, and the machine's load (it shows in every figure). */
function printSetup(pid: number, base: string, bundleNote: string, chromium: string): void {
  console.log(`coordinator: pid ${pid}, node ${path.relative(ROOT, site.entry.script)} (${site.entry.why}), mutual TLS; console ${base} (token login)`);
  console.log(`SIMULATED agents: ${AGENTS} in ${PROCS} processes, image caches warm; pool ${NODES}; browser: ${chromium} headless (puppeteer-core), ${os.cpus().length} cores, ` +
    `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine shows in every figure)`);
  if (bundleNote) console.log(bundleNote);
}

/** The burst with the page on the running nodes; returns false if some step ran out of time. */
async function burstPhase(bursts: DeployBursts, page: ConsolePage, tracker: RunningCountTracker): Promise<boolean> {
  await page.show('#/nodes?state=NODE_STATE_RUNNING', '[data-testid="node-table"]');
  const [probe0, metrics0, tm0, events0] = [await page.readProbe(), await page.page.metrics(), Date.now(), tracker.events];
  const profiler = values.profile ? await startProfiler(page.page, dir, CONSOLE_BUNDLE) : undefined;
  const run = await bursts.deploy('burst with the page open');
  const caughtUp = await page.waitShown(run.succeeded, CATCH_UP_MS);
  const [probe1, metrics1, tm1] = [await page.readProbe(), await page.page.metrics(), Date.now()];
  if (profiler) await profiler.stopAndPrint(probe1.longTasks.filter(([t]) => t >= run.t0));
  report.section(`burst: ${NODES} deployments while the page shows the running nodes (#/nodes?state=NODE_STATE_RUNNING)`);
  report.add('burst: first DeployNodes → the last node running (coordinator\'s stamps)', secs(run.burstMs));
  report.add('  DeployNodes: every stream ended after (the bench\'s view)', `${secs(run.streamsMs)} (${run.succeeded} succeeded, ${run.unfinished} unfinished)`);
  const lastRunning = tracker.running.at(-1)?.[0] ?? NaN;
  const pageAll = probe1.shown.find(([t, n]) => t >= run.t0 && (n ?? 0) >= run.succeeded)?.[0] ?? NaN;
  report.add('the page showed every running node, after the coordinator ran the last', caughtUp ? secs(pageAll - lastRunning) : `not within ${CATCH_UP_MS / 1000} s`);
  Object.assign(json, { burst_s: finiteOrNull(run.burstMs / 1000), burst_streams_s: run.streamsMs / 1000, nodes_running: run.succeeded });
  table.sse(probe0, probe1, tracker.events - events0);
  table.longTasks(probe1, run.t0, caughtUp ? pageAll : tm1, metricsDelta(metrics0, metrics1), (tm1 - tm0) / 1000);
  table.lag(tracker.running, probe1.shown, run.t0, caughtUp ? pageAll : tm1, run.succeeded);
  report.add('coordinator: CPU during the burst; RSS after it', `${secs(run.cpuS * 1000)}; ${mb(run.rssBytes)}`);
  Object.assign(json, { coordinator_cpu_s: finiteOrNull(run.cpuS), coordinator_rss_mb: finiteOrNull(run.rssBytes / 1e6) });
  table.compareBaseline(run);
  return run.unfinished === 0 && caughtUp;
}

/** Removes every node with the page on #/nodes: the coordinator's last removal → the page showing 0. Returns false if a step ran out of time. */
async function removalPhase(bursts: DeployBursts, page: ConsolePage, tracker: RunningCountTracker): Promise<boolean> {
  report.section('removal with the page on #/nodes');
  await page.show('#/nodes', '[data-testid="node-table"]');
  const { t0, leased, removed } = await bursts.removeEverything();
  report.add(`${leased} RemoveNode: all ended after`, `${secs(removed.ms)} (${removed.succeeded} succeeded, ${removed.failed} failed, ${removed.unfinished} unfinished)`);
  const empty = await page.waitShown(0, 60_000);
  await tracker.caughtUp('every node gone', () => tracker.leasedCount === 0, capped(60_000));
  const probe = await page.readProbe();
  const coordZero = tracker.leased.filter(([t, n]) => t >= t0 && n === 0).at(-1)?.[0];
  const pageZero = probe.shown.find(([t, n]) => t >= t0 && n === 0)?.[0];
  const s = coordZero !== undefined && pageZero !== undefined ? (pageZero - coordZero) / 1000 : NaN;
  report.add('coordinator\'s last removal → the page shows "0 nodes"', empty && Number.isFinite(s) ? secs(s * 1000) : 'not seen');
  const tasks = probe.longTasks.filter(([t]) => t >= t0).map(([, d]) => d);
  report.add('long tasks during the removals: count; longest', `${tasks.length}; ${(tasks.length ? Math.max(...tasks) : 0).toFixed(0)} ms`);
  json['empty_after_removal_s'] = finiteOrNull(s);
  return empty && removed.unfinished === 0 && removed.failed === 0;
}

/** Closes chromium (≤ 10 s), else kills it by PID. */
async function closeBrowser(): Promise<void> {
  if (!browser) return;
  await within(10_000, 'closing chromium', browser.close()).catch((e: unknown) => (log(`${errorMessage(e)}; killing it by PID`), killBrowserNow()));
}
