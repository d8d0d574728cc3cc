// console-scale's bursts of deployments, as coordinator-scale sends them
// (concurrent DeployNodes, VOs alternating), each followed until the bench's
// WatchEvents stream has seen the nodes running; the removal of every node;
// and the baseline: the same burst with the console on and no page open,
// then every node removed, which the page's burst is compared against.
import { MAX_DEPLOY_COUNT } from '../../../coordinator/api/request-limits.js';
import { systemClock, type Clock } from '../../../shared/clock.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import type { ConsoleScaleTable } from './console-scale-table.js';
import type { MetricsScrape } from './prom-text.js';
import type { RunningCountTracker } from './running-count-tracker.js';
import { deployBatches, removeNodes, within, type DeployBatch } from './site-probes.js';
import type { StepDeadline } from './step-deadline.js';

/** The coordinator's side of one burst of every deployment. */
export interface BurstRun {
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

/** What a burst deploys, and how long its DeployNodes calls may take. */
export interface BurstSettings {
  nodes: number;
  /** At least this many concurrent DeployNodes calls. */
  batches: number;
  deployMs: number;
}

/** What the bursts need from the run (plain functions: they are called unbound). */
export interface BurstDeps {
  client: CoordinatorClient;
  tracker: RunningCountTracker;
  deadline: StepDeadline;
  /** The coordinator's /metrics now (`what` names the moment in a failure's log line). */
  scrape: (what: string) => Promise<MetricsScrape>;
  log: (line: string) => void;
  clock?: Pick<Clock, 'monotonicMs'>;
}

/** The deployments, as coordinator-scale sends them: at least `batches` concurrent DeployNodes, none above the API's ceiling, VOs alternating. */
export function deployPlan(nodes: number, batches: number): DeployBatch[] {
  const count = Math.max(batches, Math.ceil(nodes / MAX_DEPLOY_COUNT));
  const per = Math.ceil(nodes / count);
  return Array.from({ length: count }, (_, i) => ({ vo: i % 2 ? 'fusion' : 'bio', count: Math.min(per, nodes - i * per) })).filter((b) => b.count > 0);
}

/** Deploys and removes every node of the site, bounded in time. */
export class DeployBursts {
  private readonly clock: Pick<Clock, 'monotonicMs'>;

  constructor(
    private readonly deps: BurstDeps,
    private readonly settings: BurstSettings,
  ) {
    this.clock = deps.clock ?? systemClock;
  }

  /** Sends every deployment at once and waits (bounded) until the bench's stream has seen them running. */
  async deploy(what: string): Promise<BurstRun> {
    const { client, tracker, deadline, scrape, log } = this.deps;
    const { nodes, deployMs } = this.settings;
    const batches = deployPlan(nodes, this.settings.batches);
    log(`${what}: deploying ${nodes} nodes (${batches.map((b) => `${b.vo} ${b.count}`).join(', ')}), limit ${deployMs / 1000} s`);
    const scrape0 = await scrape(`before the ${what}`);
    const events0 = tracker.events;
    const t0 = Date.now();
    const m0 = this.clock.monotonicMs();
    const progress = setInterval(() => log(`  the bench's WatchEvents: ${tracker.events - events0} events, ${tracker.runningCount} running, ${tracker.behindMs()} ms behind the coordinator`), 10_000);
    const deployed = await deployBatches(client, batches, deadline.limit(deployMs)).finally(() => clearInterval(progress));
    const streamsMs = this.clock.monotonicMs() - m0;
    for (const e of deployed.flatMap((b) => b.errors)) log(`  deploy: ${e}`);
    const succeeded = deployed.reduce((sum, b) => sum + b.succeeded, 0);
    // A fresh site (or one emptied by the baseline): every deployment that succeeded is a running node.
    await tracker.caughtUp(`${succeeded} running nodes`, () => tracker.runningCount >= succeeded, deadline.capped(60_000));
    const scrape1 = await scrape(`after the ${what}`);
    return {
      t0, streamsMs, succeeded, unfinished: deployed.reduce((sum, b) => sum + b.unfinished, 0),
      burstMs: (tracker.running.at(-1)?.[0] ?? NaN) - t0,
      cpuS: scrape1.get('vonode_coordinator_process_cpu_seconds_total') - scrape0.get('vonode_coordinator_process_cpu_seconds_total'),
      rssBytes: scrape1.get('vonode_coordinator_process_resident_memory_bytes'),
    };
  }

  /** RemoveNode for every leased node, 64 at a time (bounded); returns what ended, and when it started (wall clock). */
  async removeEverything(): Promise<{ t0: number; leased: number; removed: Awaited<ReturnType<typeof removeNodes>> }> {
    const { client, deadline, log } = this.deps;
    const leased = (await within(deadline.capped(30_000), 'ListNodes', client.listNodes())).nodes.map((n) => n.hostname);
    const t0 = Date.now();
    log(`removing ${leased.length} nodes (RemoveNode, 64 at a time)`);
    const removed = await removeNodes(client, leased, 64, deadline.limit(Math.max(10_000, Math.min(300_000, deadline.remaining() - 30_000))));
    for (const e of removed.errors) log(`  remove: ${e}`);
    return { t0, leased: leased.length, removed };
  }

  /**
   * The same burst with the console on but no page open, then every node
   * removed: what the page's burst costs the coordinator is the difference
   * (the browser's CPU on the same cores included). Returns false if a step ran out of time.
   */
  async baseline(table: ConsoleScaleTable): Promise<boolean> {
    const { tracker, deadline } = this.deps;
    const run = await this.deploy('baseline burst (no page open)');
    table.baseline(run);
    const { removed } = await this.removeEverything();
    await tracker.caughtUp('every node gone', () => tracker.leasedCount === 0, deadline.capped(60_000));
    return run.unfinished === 0 && removed.unfinished === 0 && removed.failed === 0 && tracker.leasedCount === 0;
  }
}
