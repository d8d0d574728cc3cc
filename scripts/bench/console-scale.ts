// Benchmark of the web console at scale (issue: "updates through server-sent
// events ... it stays responsive with 500 hosts and 5,000 nodes (measure it
// with the scale bench's simulated agents)"). One REAL vonode-coordinator
// process (mutual TLS; its console on 127.0.0.1 with a bearer token of a
// tokens file), a SIMULATED agent fleet (--agents in --procs child processes,
// scripts/bench/lib/simulated-agent-fleet.ts, as coordinator-scale runs it) and
// Debian's chromium headless (puppeteer-core), logged in through the login form.
//
// How it measures what a user sees:
// - PAGE_PROBE runs in the page before the app: it counts the messages and
//   bytes of the app's own /api/events stream (EventSource subclassed: a
//   second stream would double the load), records main-thread long tasks
//   (PerformanceObserver 'longtask'), and after every change of the DOM (a
//   MutationObserver: it costs nothing while the page is idle, unlike a frame
//   loop) reads the node count the nodes view shows ("1–100 of N" in
//   node-page-info, whatever the page), keeping each change with its wall
//   time (Date.now()). The app changes the DOM in its animation-frame render,
//   so the paint follows within that frame.
// - The bench's own WatchEvents subscriber keeps, from the node and operation
//   events, when the coordinator's count of running (and leased) nodes changed,
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
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Metrics, Page } from 'puppeteer-core';
import { parse, stringify } from 'yaml';
import { MAX_DEPLOY_COUNT } from '../../coordinator/api/request-limits.js';
import { systemClock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { NodeState, OperationKind, OperationState, type CoordinatorEvent, type Operation } from '../../shared/gen/vonode/v1/coordinator.js';
import { CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { launchConsoleBrowser } from '../testbed/lib/console-browser.js';
import { freePort } from '../testbed/lib/free-port.js';
import { parseBenchArgs, usageError } from './lib/bench-cli.js';
import { finiteOrNull, runOutcome, writeBenchJson } from './lib/bench-json.js';
import { BenchProcesses, waitForJsonLine } from './lib/bench-processes.js';
import { BenchReport, mb, secs } from './lib/bench-report.js';
import { BenchSite, ROOT } from './lib/bench-site.js';
import { planFleet, startFleet } from './lib/fleet-launcher.js';
import type { SimulatedAgentState } from './lib/simulated-agent.js';
import { procMemory, tryScrape } from './lib/prom-text.js';
import { deployBatches, hostCounts, removeNodes, waitForHosts, within, type DeployBatch } from './lib/site-probes.js';

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
/** The issue's "stays responsive", as numbers: a user's page load, a filter click, the longest freeze, how late live data shows. */
const TARGETS = { pageLoadS: 3, filterMs: 200, longTaskMs: 200, lagP50Ms: 1000 };
/** Where the coordinator serves the console from, and the sources it is built from. */
const BUNDLE = path.join(ROOT, 'dist/console');
const WEB_SOURCES = path.join(ROOT, 'coordinator/console/web');
/** Room after the last deployment ended for the page to show it (a page further behind than this has failed). */
const CATCH_UP_MS = 120_000;
/** ListHosts polling while the fleet registers (coordinator-scale's rate for ≤ 500 agents). */
const POLL_MS = AGENTS > 500 ? 500 : 100;

const T0 = systemClock.monotonicMs();
const now = (): number => systemClock.monotonicMs();
const log = (line: string): void => void process.stderr.write(`[${((now() - T0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
const overallAbort = new AbortController();
setTimeout(() => overallAbort.abort(new Error(`the overall time limit (${TIMEOUT_MS / 1000} s) was reached`)), TIMEOUT_MS).unref();
/** Time left before the overall deadline, at least 1 ms. */
const remaining = (): number => Math.max(1, TIMEOUT_MS - (now() - T0));
/** At most `ms`, and never past the overall deadline (for waits that take a number). */
const capped = (ms: number): number => Math.round(Math.min(ms, remaining()));
/**
 * A step's signal: its own limit, and never past the overall deadline. (Not
 * AbortSignal.timeout: Node 20 may garbage-collect that signal, which then
 * never fires; as in coordinator-scale.)
 */
const limit = (ms: number): AbortSignal => {
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(new Error(`step time limit (${(ms / 1000).toFixed(0)} s) reached`)), capped(ms));
  const onOverall = (): void => c.abort(overallAbort.signal.reason);
  overallAbort.signal.addEventListener('abort', onOverall, { once: true });
  c.signal.addEventListener('abort', () => (clearTimeout(timer), overallAbort.signal.removeEventListener('abort', onOverall)), { once: true });
  return c.signal;
};

/**
 * Installed with evaluateOnNewDocument, so it runs before the app's script on
 * every document of the tab. Plain browser JavaScript in a string: tsx
 * compiles functions with esbuild's keepNames, whose `__name(...)` calls do
 * not exist in the page, and the project's type-check has no DOM library.
 * `bytes` counts `data: <json>\n\n` as the server frames it (the JSON is ASCII).
 */
const PAGE_PROBE = `(() => {
  const probe = { longTasks: [], longTaskSupported: false, sse: { messages: 0, bytes: 0, opens: 0, errors: 0 }, shown: [] };
  Object.defineProperty(window, '__consoleBench', { value: probe });
  if ((PerformanceObserver.supportedEntryTypes || []).includes('longtask')) {
    probe.longTaskSupported = true;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longTasks.push([performance.timeOrigin + e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  }
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      this.addEventListener('message', (m) => { probe.sse.messages++; probe.sse.bytes += String(m.data).length + 8; });
      this.addEventListener('open', () => { probe.sse.opens++; });
      this.addEventListener('error', () => { probe.sse.errors++; });
    }
  };
  let last;
  const sample = () => {
    const el = document.querySelector('[data-testid="node-page-info"]');
    const text = el ? el.textContent || '' : null;
    const of = text === null ? null : /of (\\d+)/.exec(text);
    const count = of ? Number(of[1]) : text !== null && /^0 nodes/.test(text) ? 0 : null;
    if (count !== last) { probe.shown.push([Date.now(), count]); last = count; }
  };
  new MutationObserver(sample).observe(document, { childList: true, subtree: true, characterData: true });
})();`;

/** What PAGE_PROBE has collected: [epoch ms, ms] per long task, [epoch ms, count shown or null] per change. */
interface ProbeState {
  longTasks: Array<[number, number]>;
  longTaskSupported: boolean;
  sse: { messages: number; bytes: number; opens: number; errors: number };
  shown: Array<[number, number | null]>;
}
/** What the functions run inside the page use of it (no DOM library in the project's type-check). */
interface PageElement {
  textContent: string | null;
  value?: string;
  dispatchEvent(event: unknown): boolean;
}
interface PageGlobals {
  __consoleBench?: ProbeState;
  document: { querySelector(selector: string): PageElement | null };
  location: { hash: string };
  requestAnimationFrame(callback: () => void): number;
  Event: new (type: string, init?: { bubbles?: boolean }) => unknown;
}

/** The coordinator's site as the bench's WatchEvents stream tells it: when (event unixMs) the running and leased counts changed. */
class SiteTimeline {
  /** [unixMs, running nodes] after each change. */
  readonly running: Array<[number, number]> = [];
  /** [unixMs, leased nodes] after each change. */
  readonly leased: Array<[number, number]> = [];
  events = 0;
  error: string | undefined;
  private readonly states = new Map<string, NodeState>();
  private runningNow = 0;
  private lastUnixMs = 0;

  /** Running nodes as of the last event received. */
  get runningCount(): number {
    return this.runningNow;
  }

  /** Leased nodes as of the last event received. */
  get leasedCount(): number {
    return this.states.size;
  }

  /** Waits (at most `ms`) until `ready()` holds: the bench's stream may trail the coordinator; says so if it still does. */
  async caughtUp(what: string, ready: () => boolean, ms: number): Promise<void> {
    const end = now() + ms;
    while (!ready() && now() < end) await systemClock.sleep(50);
    if (!ready()) log(`the bench's WatchEvents stream has not seen ${what} after ${ms / 1000} s: figures from it are partial`);
  }
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly client: CoordinatorClient) {}

  start(): void {
    this.loop = (async () => {
      try {
        for await (const e of this.client.watchEvents(this.abort.signal)) this.apply(e);
      } catch (e) {
        if (!this.abort.signal.aborted) this.error = errorMessage(e);
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** How long ago (wall clock) the coordinator stamped the last event received: how far this stream trails it. */
  behindMs(): number {
    return this.lastUnixMs ? Date.now() - this.lastUnixMs : 0;
  }

  private apply(e: CoordinatorEvent): void {
    this.events++;
    this.lastUnixMs = e.unixMs;
    if (e.event?.$case === 'node') this.set(e.event.value.hostname, e.event.value.state, e.unixMs);
    // The coordinator sends no node event when a node leaves: the operation that frees it is the signal (as the page reads it).
    if (e.event?.$case === 'operation' && leavesWith(e.event.value)) this.set(e.event.value.node, undefined, e.unixMs);
  }

  private set(hostname: string, state: NodeState | undefined, unixMs: number): void {
    const was = this.states.get(hostname);
    const leased = this.states.size;
    if (state === undefined) this.states.delete(hostname);
    else this.states.set(hostname, state);
    const delta = Number(state === NodeState.NODE_STATE_RUNNING) - Number(was === NodeState.NODE_STATE_RUNNING);
    if (delta) this.running.push([unixMs, (this.runningNow += delta)]);
    if (this.states.size !== leased) this.leased.push([unixMs, this.states.size]);
  }
}

/** Whether the operation's node has left the site in this state (coordinator/console/web/model/wire-names.ts nodeLeavesWith). */
function leavesWith(op: Operation): boolean {
  if (op.state === OperationState.OPERATION_STATE_SUCCEEDED) return op.kind === OperationKind.OPERATION_KIND_REMOVE || op.kind === OperationKind.OPERATION_KIND_DRAIN;
  return op.state === OperationState.OPERATION_STATE_FAILED && op.kind === OperationKind.OPERATION_KIND_DEPLOY;
}

const startedAt = new Date();
/** The run's steps in order; each is added to `done` when finished (the rest go to --json's unfinished_steps). */
const STEPS = ['site', ...(values['skip-baseline'] ? [] : ['baseline']), 'page', 'burst', 'after_burst', 'page_load', 'removal'];
const done = new Set<string>();
const dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-console-scale-'));
const processes = new BenchProcesses();
const report = new BenchReport();
const json: Record<string, unknown> = { agents: AGENTS, nodes: NODES, runs: RUNS, procs: PROCS, cores: os.cpus().length };
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

const site = new BenchSite({ dir, poolSize: NODES, heartbeatS: 1, agents: AGENTS, insecure: false, maxConcurrentTransfers: 2, nodeArgs: [] });
const fleet = planFleet(AGENTS, PROCS, dir);
const scrape = (what: string): ReturnType<typeof tryScrape> => tryScrape(site.metricsPort, capped(15_000), (e) => log(`/metrics ${what}: ${errorMessage(e)}`));

try {
  const bundleNote = await checkConsoleBundle();
  await site.prepare();
  const consolePort = await freePort();
  const token = await enableConsole(consolePort);
  const coordinator = await site.startCoordinator(processes);
  const client = site.client();
  // The observer on a connection of its own, as `vonode events` would be. During a burst its stream may trail the
  // coordinator (by a minute at 5,000 deployments here): the figures use the events' own stamps, once it has caught up.
  const watcher = new CoordinatorClient(`127.0.0.1:${site.port}`, site.credentials('cli'), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.use_local_subchannel_pool': 1 });
  const timeline = new SiteTimeline(watcher);
  timeline.start();
  await prewarmCaches(client);
  await registerFleet(client);
  done.add('site');
  if (!values['skip-baseline'] && (await baselinePhase(client, timeline))) done.add('baseline');

  browser = await launchConsoleBrowser(path.join(site.pki, 'coordinator.pem'));
  browserPid = browser.process()?.pid;
  const base = `https://127.0.0.1:${consolePort}`;
  printSetup(coordinator.pid, base, bundleNote, await browser.version());
  const page = await openConsole(browser, base, token);
  done.add('page');

  const burst = await burstPhase(client, page, timeline);
  if (burst) done.add('burst');
  const counts = await nodeCounts(client);
  await afterBurst(page, counts);
  done.add('after_burst');
  await pageLoads(browser, base, counts.total);
  done.add('page_load');
  await page.bringToFront();
  if (await removalPhase(client, page, timeline)) done.add('removal');

  const memEnd = await procMemory(coordinator.pid);
  // VmHWM covers the whole run; the /metrics RSS after the burst stands in if /proc was unreadable.
  json['coordinator_rss_mb'] = finiteOrNull(Number.isFinite(memEnd.hwm) ? memEnd.hwm / 1e6 : ((json['coordinator_rss_mb'] as number | null) ?? NaN));
  report.add('coordinator peak RSS (/proc VmHWM, whole run)', mb(memEnd.hwm));
  if (timeline.error) log(`the bench's WatchEvents stream ended early: ${timeline.error}`);
  await timeline.stop();
  watcher.close();
  client.close();
} catch (err) {
  failure = err;
  log(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  console.log(`\n${report.render()}\n`);
  printVerdicts();
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

/**
 * Throws if dist/console was never built (the coordinator would refuse to
 * start its console); returns a warning when web sources are newer than the
 * bundle (the bench would measure the old page), else ''.
 */
async function checkConsoleBundle(): Promise<string> {
  const app = path.join(BUNDLE, 'assets/app.js');
  if (!existsSync(path.join(BUNDLE, 'index.html')) || !existsSync(app)) {
    throw new Error(`the web console is not built (${BUNDLE} has no index.html or assets/app.js): run \`npm run build\` once, then the bench again`);
  }
  const builtMs = (await stat(app)).mtimeMs;
  const sources = (await readdir(WEB_SOURCES, { recursive: true })).map((f) => path.join(WEB_SOURCES, f));
  const newer = (await Promise.all(sources.map(async (f) => {
    const st = await stat(f);
    return st.isFile() && st.mtimeMs > builtMs ? path.relative(ROOT, f) : '';
  }))).filter(Boolean);
  return newer.length ? `WARNING: ${newer.length} console source(s) changed after dist/console was built (${newer.slice(0, 3).join(', ')}…): run \`npm run build\` to measure them` : '';
}

/**
 * Turns the console on in the config BenchSite.prepare() wrote (BenchSite has
 * no hook for extra coordinator config): `console.listen` on loopback and a
 * tokens file holding the SHA-256 of a fresh token. Returns the token.
 */
async function enableConsole(port: number): Promise<string> {
  const configFile = path.join(dir, 'coordinator.yaml');
  if (!existsSync(configFile)) throw new Error(`BenchSite wrote no ${configFile}: the bench cannot add the console section`);
  const token = randomBytes(24).toString('hex');
  const tokensFile = path.join(dir, 'console-tokens.yaml');
  await writeFile(tokensFile, stringify({ tokens: [{ name: 'bench', sha256: createHash('sha256').update(token).digest('hex') }] }));
  const config = parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
  await writeFile(configFile, stringify({ ...config, console: { listen: `127.0.0.1:${port}`, tokensFile } }));
  return token;
}

/**
 * Fills every simulated agent's image cache with the appliances the policy
 * names (GetPolicy), through the fleet's state files, which it reads at start.
 * Both bursts then run on warm caches; otherwise the first (the baseline)
 * would run cold (simulated PT 10-20 ms instead of 0.5-1 ms, cold transfers
 * 2 at a time) and the comparison would be biased.
 */
async function prewarmCaches(client: CoordinatorClient): Promise<void> {
  type PolicyFile = { vos?: Record<string, { appliance?: { disk?: { sha256?: string } } }> };
  const policy = parse((await within(capped(30_000), 'GetPolicy', client.getPolicy())).yaml) as PolicyFile;
  const images = [...new Set(Object.values(policy.vos ?? {}).map((v) => v.appliance?.disk?.sha256 ?? ''))].filter(Boolean);
  if (!images.length) log('WARNING: the policy names no appliance sha256: the simulated caches start cold');
  for (const slice of fleet) {
    const state: Record<string, SimulatedAgentState> = Object.fromEntries([...slice.names].map((name) => [name, { domains: [], cachedImages: images }]));
    await writeFile(slice.stateFile, JSON.stringify(state));
  }
}

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

/** A new tab with PAGE_PROBE, logged in through the login form, at the overview with its stream live. Throws after 60 s. */
async function openConsole(b: Browser, base: string, token: string): Promise<Page> {
  const page = await b.newPage();
  page.setDefaultTimeout(capped(60_000));
  await page.evaluateOnNewDocument(PAGE_PROBE);
  await page.goto(`${base}/#/`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('[data-testid="login-form"]');
  await page.type('[data-testid="login-token"]', token);
  await page.click('[data-testid="login-submit"]'); // the app reloads itself with the session cookie
  await page.waitForSelector('[data-testid="vo-row-bio"]');
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('[data-testid="live-state"]')?.textContent === 'live');
  log('console open and live at the overview');
  return page;
}

/** Navigates within the app (hash route) and waits for `selector`. */
async function showView(page: Page, hash: string, selector: string): Promise<void> {
  await page.evaluate((h) => void ((globalThis as unknown as PageGlobals).location.hash = h), hash);
  await page.waitForSelector(selector, { timeout: capped(30_000) });
}

/** Waits until the nodes view shows `count` nodes in total; resolves false (and logs) if it does not within `ms`. */
async function waitShown(page: Page, count: number, ms: number): Promise<boolean> {
  return page.waitForFunction((n) => {
    const text = (globalThis as unknown as PageGlobals).document.querySelector('[data-testid="node-page-info"]')?.textContent ?? '';
    return n === 0 ? text.startsWith('0 nodes') : text.endsWith(`of ${n}`);
  }, { timeout: capped(ms), polling: 'raf' }, count).then(() => true, (e: unknown) => (log(`the page did not show ${count} nodes: ${errorMessage(e)}`), false));
}

/** What PAGE_PROBE has collected so far in `page`; throws if it is missing or the page does not answer in 30 s. */
async function readProbe(page: Page): Promise<ProbeState> {
  const state = await within(capped(30_000), 'reading the page probe', page.evaluate(() => (globalThis as unknown as PageGlobals).__consoleBench));
  if (!state) throw new Error('the page probe is missing (evaluateOnNewDocument did not run)');
  return state;
}

/** The deployments, as coordinator-scale sends them: at least --batches concurrent DeployNodes, none above the API's ceiling, VOs alternating. */
function deployPlan(): DeployBatch[] {
  const count = Math.max(BATCHES, Math.ceil(NODES / MAX_DEPLOY_COUNT));
  const per = Math.ceil(NODES / count);
  return Array.from({ length: count }, (_, i) => ({ vo: i % 2 ? 'fusion' : 'bio', count: Math.min(per, NODES - i * per) })).filter((b) => b.count > 0);
}

/** The coordinator's side of one burst of every deployment. */
interface BurstRun {
  /** Wall clock (ms) just before the DeployNodes calls. */
  t0: number;
  /** First DeployNodes → the last node running, by the coordinator's event stamps. */
  burstMs: number;
  /** Until every DeployNodes stream ended, as the bench saw it. */
  streamsMs: number;
  succeeded: number;
  unfinished: number;
  /** Coordinator CPU seconds from before the calls until the bench's stream had seen every node running. */
  cpuS: number;
  rssBytes: number;
}

/** Sends every deployment at once and waits (bounded) until the bench's stream has seen them running. */
async function deployBurst(client: CoordinatorClient, timeline: SiteTimeline, what: string): Promise<BurstRun> {
  const batches = deployPlan();
  log(`${what}: deploying ${NODES} nodes (${batches.map((b) => `${b.vo} ${b.count}`).join(', ')}), limit ${DEPLOY_MS / 1000} s`);
  const scrape0 = await scrape(`before the ${what}`);
  const events0 = timeline.events;
  const t0 = Date.now();
  const m0 = now();
  const progress = setInterval(() => log(`  the bench's WatchEvents: ${timeline.events - events0} events, ${timeline.runningCount} running, ${timeline.behindMs()} ms behind the coordinator`), 10_000);
  const deployed = await deployBatches(client, batches, limit(DEPLOY_MS)).finally(() => clearInterval(progress));
  const streamsMs = now() - m0;
  for (const e of deployed.flatMap((b) => b.errors)) log(`  deploy: ${e}`);
  const succeeded = deployed.reduce((sum, b) => sum + b.succeeded, 0);
  // A fresh site (or one emptied by the baseline): every deployment that succeeded is a running node.
  await timeline.caughtUp(`${succeeded} running nodes`, () => timeline.runningCount >= succeeded, capped(60_000));
  const scrape1 = await scrape(`after the ${what}`);
  return {
    t0, streamsMs, succeeded, unfinished: deployed.reduce((sum, b) => sum + b.unfinished, 0),
    burstMs: (timeline.running.at(-1)?.[0] ?? NaN) - t0,
    cpuS: scrape1.get('vonode_coordinator_process_cpu_seconds_total') - scrape0.get('vonode_coordinator_process_cpu_seconds_total'),
    rssBytes: scrape1.get('vonode_coordinator_process_resident_memory_bytes'),
  };
}

/** RemoveNode for every leased node, 64 at a time (bounded); returns what ended, and when it started (wall clock). */
async function removeEverything(client: CoordinatorClient): Promise<{ t0: number; leased: number; removed: Awaited<ReturnType<typeof removeNodes>> }> {
  const leased = (await within(capped(30_000), 'ListNodes', client.listNodes())).nodes.map((n) => n.hostname);
  const t0 = Date.now();
  log(`removing ${leased.length} nodes (RemoveNode, 64 at a time)`);
  const removed = await removeNodes(client, leased, 64, limit(Math.max(10_000, Math.min(300_000, remaining() - 30_000))));
  for (const e of removed.errors) log(`  remove: ${e}`);
  return { t0, leased: leased.length, removed };
}

/**
 * The same burst with the console on but no page open, then every node
 * removed: what the page's burst costs the coordinator is the difference
 * (the browser's CPU on the same cores included). Returns false if a step ran out of time.
 */
async function baselinePhase(client: CoordinatorClient, timeline: SiteTimeline): Promise<boolean> {
  const run = await deployBurst(client, timeline, 'baseline burst (no page open)');
  report.section('baseline: the same burst with no console page open');
  report.add('burst: first DeployNodes → the last node running (coordinator\'s stamps)', `${secs(run.burstMs)} (${run.succeeded} succeeded, ${run.unfinished} unfinished)`);
  report.add('coordinator CPU during it', secs(run.cpuS * 1000));
  Object.assign(json, { baseline_burst_s: finiteOrNull(run.burstMs / 1000), baseline_coordinator_cpu_s: finiteOrNull(run.cpuS) });
  const { removed } = await removeEverything(client);
  await timeline.caughtUp('every node gone', () => timeline.leasedCount === 0, capped(60_000));
  return run.unfinished === 0 && removed.unfinished === 0 && removed.failed === 0 && timeline.leasedCount === 0;
}

/** The burst with the page on the running nodes; returns false if some step ran out of time. */
async function burstPhase(client: CoordinatorClient, page: Page, timeline: SiteTimeline): Promise<boolean> {
  await showView(page, '#/nodes?state=NODE_STATE_RUNNING', '[data-testid="node-table"]');
  const [probe0, metrics0, tm0, events0] = [await readProbe(page), await page.metrics(), Date.now(), timeline.events];
  const profiler = values.profile ? await startProfiler(page) : undefined;
  const run = await deployBurst(client, timeline, 'burst with the page open');
  const caughtUp = await waitShown(page, run.succeeded, CATCH_UP_MS);
  const [probe1, metrics1, tm1] = [await readProbe(page), await page.metrics(), Date.now()];
  if (profiler) await profiler.stopAndPrint(probe1.longTasks.filter(([t]) => t >= run.t0));
  report.section(`burst: ${NODES} deployments while the page shows the running nodes (#/nodes?state=NODE_STATE_RUNNING)`);
  report.add('burst: first DeployNodes → the last node running (coordinator\'s stamps)', secs(run.burstMs));
  report.add('  DeployNodes: every stream ended after (the bench\'s view)', `${secs(run.streamsMs)} (${run.succeeded} succeeded, ${run.unfinished} unfinished)`);
  const lastRunning = timeline.running.at(-1)?.[0] ?? NaN;
  const pageAll = probe1.shown.find(([t, n]) => t >= run.t0 && (n ?? 0) >= run.succeeded)?.[0] ?? NaN;
  report.add('the page showed every running node, after the coordinator ran the last', caughtUp ? secs(pageAll - lastRunning) : `not within ${CATCH_UP_MS / 1000} s`);
  Object.assign(json, { burst_s: finiteOrNull(run.burstMs / 1000), burst_streams_s: run.streamsMs / 1000, nodes_running: run.succeeded });
  sseFigures(probe0, probe1, timeline.events - events0);
  longTaskFigures(probe1, run.t0, caughtUp ? pageAll : tm1, metricsDelta(metrics0, metrics1), (tm1 - tm0) / 1000);
  lagFigures(timeline.running, probe1.shown, run.t0, caughtUp ? pageAll : tm1, run.succeeded);
  report.add('coordinator: CPU during the burst; RSS after it', `${secs(run.cpuS * 1000)}; ${mb(run.rssBytes)}`);
  Object.assign(json, { coordinator_cpu_s: finiteOrNull(run.cpuS), coordinator_rss_mb: finiteOrNull(run.rssBytes / 1e6) });
  compareBaseline(run);
  return run.unfinished === 0 && caughtUp;
}

/** The page's burst against the baseline's (when there was one): wall time and coordinator CPU, as ratios. */
function compareBaseline(run: BurstRun): void {
  const [wall, cpu] = [json['baseline_burst_s'], json['baseline_coordinator_cpu_s']];
  if (typeof wall !== 'number' || typeof cpu !== 'number') return;
  const wallRatio = run.burstMs / 1000 / wall;
  const cpuRatio = run.cpuS / cpu;
  report.add('  with the page / without: burst wall time; coordinator CPU', `${wallRatio.toFixed(2)}×; ${cpuRatio.toFixed(2)}×`);
  Object.assign(json, { burst_vs_baseline: finiteOrNull(wallRatio), coordinator_cpu_vs_baseline: finiteOrNull(cpuRatio) });
}

/** The page's stream during the burst: messages, bytes, reopens; and what the bench's own stream got meanwhile. */
function sseFigures(before: ProbeState, after: ProbeState, coordinatorEvents: number): void {
  const events = after.sse.messages - before.sse.messages;
  const bytes = after.sse.bytes - before.sse.bytes;
  const reconnects = after.sse.opens - before.sse.opens;
  report.add('events on the page\'s stream (SSE messages); bytes', `${events}; ${mb(bytes)}`);
  report.add('events the bench\'s WatchEvents got meanwhile (the same bus)', String(coordinatorEvents));
  // A reopen means the server cut the stream (the page fell 4 MiB behind) or it broke: the page then reloads every snapshot.
  report.add('stream reopened during the burst (cut or broken)', `${reconnects} (${after.sse.errors - before.sse.errors} errors)`, { text: '0', pass: reconnects === 0 });
  Object.assign(json, { burst_events: events, burst_sse_bytes: bytes, sse_reconnects: reconnects });
}

/** Seconds of main-thread work between two CDP Performance.getMetrics readings: all tasks, and script, layout and style within them. */
function metricsDelta(a: Metrics, b: Metrics): { taskS: number; scriptS: number; layoutS: number; styleS: number } {
  const d = (k: 'TaskDuration' | 'ScriptDuration' | 'LayoutDuration' | 'RecalcStyleDuration'): number => (b[k] ?? NaN) - (a[k] ?? NaN);
  return { taskS: d('TaskDuration'), scriptS: d('ScriptDuration'), layoutS: d('LayoutDuration'), styleS: d('RecalcStyleDuration') };
}

/** Long tasks within [fromMs, toMs] (wall clock) and the main thread's busy time over the `windowS` seconds between the CDP readings. */
function longTaskFigures(probe: ProbeState, fromMs: number, toMs: number, busy: ReturnType<typeof metricsDelta>, windowS: number): void {
  const tasks = probe.longTasks.filter(([t]) => t >= fromMs && t <= toMs).map(([, d]) => d);
  const total = tasks.reduce((s, d) => s + d, 0);
  const max = tasks.length ? Math.max(...tasks) : 0;
  const supported = probe.longTaskSupported;
  report.add('long tasks (> 50 ms) during burst + catch-up: count; total', supported ? `${tasks.length}; ${secs(total)}` : 'n/a (no longtask entries in this browser)');
  report.add('longest task', supported ? `${max.toFixed(0)} ms` : 'n/a', { text: `≤ ${TARGETS.longTaskMs} ms`, pass: supported && max <= TARGETS.longTaskMs });
  report.add('page main thread busy (CDP TaskDuration)', `${secs(busy.taskS * 1000)} of ${windowS.toFixed(1)} s (${((busy.taskS / windowS) * 100).toFixed(0)} %)`);
  report.add('  of it script; layout; style recalculation', `${secs(busy.scriptS * 1000)}; ${secs(busy.layoutS * 1000)}; ${secs(busy.styleS * 1000)}`);
  Object.assign(json, {
    long_tasks: supported ? tasks.length : null, long_task_total_ms: supported ? total : null, long_task_max_ms: supported ? max : null,
    page_busy_s: finiteOrNull(busy.taskS), page_script_s: finiteOrNull(busy.scriptS), page_layout_s: finiteOrNull(busy.layoutS), page_style_s: finiteOrNull(busy.styleS),
  });
}

/** For k = 1..target: the first time at or after `fromMs` the series (time, count) reached ≥ k (undefined: never). */
function firstReach(series: ReadonlyArray<readonly [number, number | null]>, target: number, fromMs: number): Array<number | undefined> {
  const at = new Array<number | undefined>(target + 1).fill(undefined);
  let reached = 0;
  for (const [t, c] of series) {
    if (t < fromMs || c === null) continue;
    while (reached < Math.min(c, target)) at[++reached] = t;
  }
  return at;
}

/** The most nodes by which the page's count trailed the coordinator's, over [fromMs, toMs] (both step functions). */
function maxBehind(coordinator: ReadonlyArray<readonly [number, number]>, page: ReadonlyArray<readonly [number, number | null]>, fromMs: number, toMs: number): number {
  const times = [...coordinator.map(([t]) => t), ...page.map(([t]) => t)].filter((t) => t >= fromMs && t <= toMs).sort((a, b) => a - b);
  const valueAt = (series: ReadonlyArray<readonly [number, number | null]>, t: number): number => {
    let v = 0;
    for (const [st, c] of series) if (st <= t) v = c ?? 0;
    return v;
  };
  // O(times × series) is fine at these sizes (≤ 20,000 points) and keeps the definition plain; sample at most 2,000 instants.
  const step = Math.max(1, Math.floor(times.length / 2000));
  let worst = 0;
  for (let i = 0; i < times.length; i += step) worst = Math.max(worst, valueAt(coordinator, times[i]!) - valueAt(page, times[i]!));
  return worst;
}

/** The q-quantile of ascending `sorted` (NaN when empty). */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Event → screen lag for every running count 1..target, and the most nodes the page trailed by. */
function lagFigures(coordinator: ReadonlyArray<readonly [number, number]>, shown: ProbeState['shown'], fromMs: number, toMs: number, target: number): void {
  const coordAt = firstReach(coordinator, target, fromMs);
  const pageAt = firstReach(shown, target, fromMs);
  const lags: number[] = [];
  let never = 0;
  for (let k = 1; k <= target; k++) {
    const [c, p] = [coordAt[k], pageAt[k]];
    if (c === undefined) continue;
    if (p === undefined) never++;
    else lags.push(p - c);
  }
  lags.sort((a, b) => a - b);
  const [p50, p90, max] = [quantile(lags, 0.5), quantile(lags, 0.9), lags.at(-1) ?? NaN];
  const behind = maxBehind(coordinator, shown, fromMs, toMs);
  report.add('event → screen lag p50 (coordinator reached N running → page shows N)', `${p50.toFixed(0)} ms`, { text: `≤ ${TARGETS.lagP50Ms} ms`, pass: p50 <= TARGETS.lagP50Ms && never === 0 });
  report.add('  p90 / max; counts never shown', `${p90.toFixed(0)} / ${max.toFixed(0)} ms; ${never}`);
  report.add('  most nodes the page was behind the coordinator', String(behind));
  Object.assign(json, { page_lag_p50_ms: finiteOrNull(p50), page_lag_p90_ms: finiteOrNull(p90), page_lag_max_ms: finiteOrNull(max), page_lag_never_shown: never, page_behind_max_nodes: behind });
}

/** Leased nodes per VO and in all (ListNodes): what the nodes view must show. */
async function nodeCounts(client: CoordinatorClient): Promise<{ total: number; byVo: Map<string, number> }> {
  const nodes = (await within(capped(30_000), 'ListNodes', client.listNodes())).nodes;
  const byVo = new Map<string, number>();
  for (const n of nodes) byVo.set(n.vo, (byVo.get(n.vo) ?? 0) + 1);
  return { total: nodes.length, byVo };
}

/** Heap, API answers, the VO filter and the hosts view, with every node in place. */
async function afterBurst(page: Page, counts: { total: number; byVo: Map<string, number> }): Promise<void> {
  report.section(`with ${counts.total} nodes and ${AGENTS} hosts (×${RUNS} where repeated)`);
  const cdp = await page.createCDPSession();
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.detach();
  const heap = (await page.metrics()).JSHeapUsedSize ?? NaN;
  report.add('page JS heap after the burst (after a GC)', mb(heap));
  json['heap_mb'] = finiteOrNull(heap / 1e6);
  const nodesApi: number[] = [];
  const hostsApi: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const n = await fetchTiming(page, '/api/nodes');
    const h = await fetchTiming(page, '/api/hosts');
    nodesApi.push(n.ms);
    hostsApi.push(h.ms);
    Object.assign(json, { nodes_api_bytes: n.bytes, hosts_api_bytes: h.bytes });
  }
  report.add(`/api/nodes from the page (${mb(json['nodes_api_bytes'] as number)})`, list(nodesApi, 'ms'));
  report.add(`/api/hosts from the page (${mb(json['hosts_api_bytes'] as number)})`, list(hostsApi, 'ms'));
  Object.assign(json, { nodes_api_ms: nodesApi, hosts_api_ms: hostsApi });
  await filterRuns(page, counts);
  await showView(page, '#/', '[data-testid="vo-row-bio"]');
  const hostsMs = await timeView(page, '#/hosts', '[data-testid^="host-row-"]', AGENTS);
  report.add(`overview → hosts view showing ${AGENTS} host rows`, `${hostsMs.toFixed(0)} ms`);
  json['hosts_view_ms'] = finiteOrNull(hostsMs);
}

/** Repeated figures for the table: `a / b / c unit`. */
function list(xs: readonly number[], unit: string): string {
  return `${xs.map((x) => (Number.isFinite(x) ? x.toFixed(unit === 's' ? 3 : 0) : 'n/a')).join(' / ')} ${unit}`;
}

/** GET `apiPath` from inside the page (its session cookie): ms to the whole body, and its bytes. Throws on a non-200 answer. */
async function fetchTiming(page: Page, apiPath: string): Promise<{ ms: number; bytes: number }> {
  const r = await within(capped(60_000), `GET ${apiPath}`, page.evaluate(async (p) => {
    const t0 = performance.now();
    const res = await fetch(p, { credentials: 'same-origin' });
    const body = await res.text();
    return { status: res.status, ms: performance.now() - t0, bytes: Number(res.headers.get('content-length') ?? body.length) };
  }, apiPath));
  if (r.status !== 200) throw new Error(`GET ${apiPath} from the page: HTTP ${r.status}`);
  return r;
}

/** The VO filter of the nodes view, --runs times (VOs alternating), each back to all VOs between runs. */
async function filterRuns(page: Page, counts: { total: number; byVo: Map<string, number> }): Promise<void> {
  await showView(page, '#/nodes', '[data-testid="node-filter-vo"]');
  if (!(await waitShown(page, counts.total, 60_000))) throw new Error(`the nodes view never showed all ${counts.total} nodes`);
  const vos = [...counts.byVo.keys()].sort();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const vo = vos[i % vos.length]!;
    times.push(await selectVo(page, vo, counts.byVo.get(vo)!));
    await selectVo(page, '', counts.total);
  }
  const worst = Math.max(...times);
  report.add('VO filter: select → the frame showing that VO\'s count', list(times, 'ms'), { text: `≤ ${TARGETS.filterMs} ms`, pass: worst <= TARGETS.filterMs });
  json['filter_ms'] = times.map((t) => finiteOrNull(t));
}

/** Sets the VO select as a user would (change event) and times, in the page, until a frame shows `expected` nodes; NaN after 30 s. */
async function selectVo(page: Page, vo: string, expected: number): Promise<number> {
  const ms = await within(capped(40_000), `VO filter ${vo || 'all'}`, page.evaluate(async (v, n) => {
    const g = globalThis as unknown as PageGlobals;
    const select = g.document.querySelector('[data-testid="node-filter-vo"]');
    if (!select) return -1;
    const t0 = performance.now();
    select.value = v;
    select.dispatchEvent(new g.Event('change', { bubbles: true }));
    while (performance.now() - t0 < 30_000) {
      await new Promise((r) => g.requestAnimationFrame(() => r(undefined)));
      if ((g.document.querySelector('[data-testid="node-page-info"]')?.textContent ?? '').endsWith(`of ${n}`)) return performance.now() - t0;
    }
    return -1;
  }, vo, expected));
  if (ms < 0) log(`the nodes view did not show ${expected} nodes for VO "${vo}" within 30 s`);
  return ms < 0 ? NaN : ms;
}

/** Hash change → the first frame with `rows` elements matching `selector` (ms, NaN after 30 s). */
async function timeView(page: Page, hash: string, selector: string, rows: number): Promise<number> {
  const ms = await within(capped(40_000), `view ${hash}`, page.evaluate(async (h, s, n) => {
    const g = globalThis as unknown as PageGlobals & { document: { querySelectorAll(sel: string): { length: number } } };
    const t0 = performance.now();
    g.location.hash = h;
    while (performance.now() - t0 < 30_000) {
      await new Promise((r) => g.requestAnimationFrame(() => r(undefined)));
      if (g.document.querySelectorAll(s).length >= n) return performance.now() - t0;
    }
    return -1;
  }, hash, selector, rows));
  return ms < 0 ? NaN : ms;
}

/** A fresh tab's load, --runs times: navigation start → the nodes view shows a row and "of N" (ms since navigation start, in the page). */
async function pageLoads(b: Browser, base: string, total: number): Promise<void> {
  const loads: number[] = [];
  const nodesFetch: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const tab = await b.newPage();
    try {
      await tab.evaluateOnNewDocument(PAGE_PROBE);
      await tab.goto(`${base}/#/nodes`, { waitUntil: 'domcontentloaded', timeout: capped(60_000) });
      const handle = await tab.waitForFunction((n) => {
        const g = globalThis as unknown as PageGlobals;
        const text = g.document.querySelector('[data-testid="node-page-info"]')?.textContent ?? '';
        return text.endsWith(`of ${n}`) && g.document.querySelector('[data-testid^="node-row-"]') !== null ? performance.now() : 0;
      }, { polling: 'raf', timeout: capped(60_000) }, total);
      loads.push(((await handle.jsonValue()) as number) / 1000);
      nodesFetch.push(await tab.evaluate(() => performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/nodes'))?.duration ?? -1));
    } catch (e) {
      log(`page load ${i + 1}: ${errorMessage(e)}`);
      loads.push(NaN);
    } finally {
      await tab.close();
    }
  }
  report.add(`fresh tab → nodes view with its first row and "of ${total}"`, list(loads, 's'), { text: `≤ ${TARGETS.pageLoadS} s`, pass: loads.every((l) => l <= TARGETS.pageLoadS) });
  report.add('  of it, /api/nodes (Resource Timing)', list(nodesFetch.map((x) => (x < 0 ? NaN : x)), 'ms'));
  json['page_load_s'] = loads.map((l) => finiteOrNull(l));
}

/** Removes every node with the page on #/nodes: the coordinator's last removal → the page showing 0. Returns false if a step ran out of time. */
async function removalPhase(client: CoordinatorClient, page: Page, timeline: SiteTimeline): Promise<boolean> {
  report.section('removal with the page on #/nodes');
  await showView(page, '#/nodes', '[data-testid="node-table"]');
  const { t0, leased, removed } = await removeEverything(client);
  report.add(`${leased} RemoveNode: all ended after`, `${secs(removed.ms)} (${removed.succeeded} succeeded, ${removed.failed} failed, ${removed.unfinished} unfinished)`);
  const empty = await waitShown(page, 0, 60_000);
  await timeline.caughtUp('every node gone', () => timeline.leasedCount === 0, capped(60_000));
  const probe = await readProbe(page);
  const coordZero = timeline.leased.filter(([t, n]) => t >= t0 && n === 0).at(-1)?.[0];
  const pageZero = probe.shown.find(([t, n]) => t >= t0 && n === 0)?.[0];
  const s = coordZero !== undefined && pageZero !== undefined ? (pageZero - coordZero) / 1000 : NaN;
  report.add('coordinator\'s last removal → the page shows "0 nodes"', empty && Number.isFinite(s) ? secs(s * 1000) : 'not seen');
  const tasks = probe.longTasks.filter(([t]) => t >= t0).map(([, d]) => d);
  report.add('long tasks during the removals: count; longest', `${tasks.length}; ${(tasks.length ? Math.max(...tasks) : 0).toFixed(0)} ms`);
  json['empty_after_removal_s'] = finiteOrNull(s);
  return empty && removed.unfinished === 0 && removed.failed === 0;
}

/**
 * The CDP profiler on the page (--profile). stopAndPrint prints the top self
 * time by console source over the whole burst, and over the samples that fell
 * inside the long tasks given (the profile's clock is placed on the wall
 * clock by a reading taken just before it started: a few ms off at most).
 */
async function startProfiler(page: Page): Promise<{ stopAndPrint(longTasks: ReadonlyArray<readonly [number, number]>): Promise<void> }> {
  const cdp = await page.createCDPSession();
  await cdp.send('Profiler.enable');
  const wallAtStart = await page.evaluate(() => performance.timeOrigin + performance.now());
  await cdp.send('Profiler.start');
  return {
    stopAndPrint: async (longTasks) => {
      const { profile } = await cdp.send('Profiler.stop');
      await cdp.detach();
      const file = path.join(dir, 'page-burst.cpuprofile');
      await writeFile(file, JSON.stringify(profile));
      const map = new SourceMap(JSON.parse(await readFile(path.join(BUNDLE, 'assets/app.js.map'), 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
      console.log(`\npage CPU profile during the burst (${file}), top self time:`);
      for (const line of topSelf(profile, map, () => true)) console.log(line);
      const inLongTask = (wallMs: number): boolean => longTasks.some(([t, d]) => wallMs >= t && wallMs <= t + d);
      console.log(`\nthe same, samples inside the ${longTasks.length} long tasks only:`);
      for (const line of topSelf(profile, map, (us) => inLongTask(wallAtStart + us / 1000))) console.log(line);
    },
  };
}

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number };
type CdpProfile = { nodes: Array<{ id: number; callFrame: CallFrame }>; samples?: number[]; timeDeltas?: number[] };

/** Top 20 of a CDP profile by self time among the samples `keep` accepts (µs since the profile's start), console frames mapped to their sources. */
function topSelf(profile: CdpProfile, map: SourceMap, keep: (sinceStartUs: number) => boolean): string[] {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  let at = 0;
  (profile.samples ?? []).forEach((id, i) => {
    const dt = profile.timeDeltas?.[i] ?? 0;
    at += dt;
    if (!keep(at)) return;
    const f = frames.get(id);
    total += dt / 1000;
    const key = f ? frameName(f, map) : '(unknown)';
    self.set(key, (self.get(key) ?? 0) + dt / 1000);
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, ms]) => `${ms.toFixed(0).padStart(8)} ms ${((ms / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
}

/** A profile frame as `function  source:line` (console bundle frames through the source map). */
function frameName(f: CallFrame, map: SourceMap): string {
  if (!f.url.endsWith('/assets/app.js')) return `${f.functionName || '(anonymous)'}  ${f.url.replace(/^https?:\/\/[^/]+/, '')}`.trim();
  const e = map.findEntry(f.lineNumber, f.columnNumber);
  if (!('originalSource' in e)) return `${f.functionName || '(anonymous)'}  app.js`;
  return `${(e as { name?: string }).name || f.functionName || '(anonymous)'}  ${e.originalSource.replace(/^.*?(coordinator\/|node_modules\/)/, '$1')}:${e.originalLine + 1}`;
}

/** The issue's four targets, each MET or NOT MET (not measured counts as NOT MET). */
function printVerdicts(): void {
  const worst = (k: string): number => Math.max(...((json[k] as Array<number | null> | undefined) ?? [NaN]).map((x) => x ?? NaN));
  const rows: Array<[string, number, number, string]> = [
    ['page load (slowest run)', worst('page_load_s'), TARGETS.pageLoadS, 's'],
    ['VO filter (slowest run)', worst('filter_ms'), TARGETS.filterMs, 'ms'],
    ['longest main-thread task in the burst', (json['long_task_max_ms'] as number | null) ?? NaN, TARGETS.longTaskMs, 'ms'],
    ['event → screen lag p50', (json['page_lag_p50_ms'] as number | null) ?? NaN, TARGETS.lagP50Ms, 'ms'],
  ];
  console.log('targets:');
  for (const [what, v, t, unit] of rows) {
    const shown = Number.isFinite(v) ? `${v.toFixed(unit === 's' ? 3 : 0)} ${unit}` : 'not measured';
    console.log(`  ${what.padEnd(40)} ${shown.padStart(14)}  (≤ ${t} ${unit})  ${v <= t ? 'MET' : 'NOT MET'}`);
  }
}

/** Closes chromium (≤ 10 s), else kills it by PID. */
async function closeBrowser(): Promise<void> {
  if (!browser) return;
  await within(10_000, 'closing chromium', browser.close()).catch((e: unknown) => (log(`${errorMessage(e)}; killing it by PID`), killBrowserNow()));
}

