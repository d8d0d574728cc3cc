// The README's main job: the whole site on this machine (DESIGN §7). Builds
// the VO appliances, brings up the namespace testbed, submits jobs to bio.q
// and fusion.q, shows live how the coordinator deploys VMs in the policy's
// ratio, prints what the jobs saw inside their VMs and the timing report,
// checks nothing is left behind, and tears everything down (unless --keep).
// Run through scripts/demo.sh, which installs what is needed first.
import { access, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatEventLine } from '../../coordinator/cli/render/event-line.js';
import { Edge } from '../../shared/gen/vonode/v1/common.js';
import { NodeState, OperationKind, OperationState, type CoordinatorEvent } from '../../shared/gen/vonode/v1/coordinator.js';
import { ProcessRunner, runChecked } from '../../shared/process/command-runner.js';
import { runAcceptanceScenario, type ScenarioResult } from './lib/acceptance-scenario.js';
import { HOOK_EVENT_NAMES } from '../../coordinator/hooks/hook-event.js';
import { VO_SOFTWARE, VOS } from './lib/site-config.js';
import { SiteTestbed, TESTBED_MARKER } from './lib/site-testbed.js';
import { REPO } from './lib/testbed-process.js';
import { usageAgreement } from './lib/usage-check.js';

const USAGE = `usage: scripts/demo.sh [--dir DIR] [--keep | --down] [--hosts N] [--pool N] [--jobs-bio N] [--jobs-fusion N] [--job-seconds S] [--payload-mb N]

  --dir DIR        where the testbed lives (default /tmp/vonode-testbed)
  --keep           leave the testbed running for poking with DIR/vonode (the CLI)
  --down           tear down a testbed left by --keep, and exit
  --hosts N        physical-host namespaces (default 2)
  --pool N         pool of VM triples (default 6)
  --jobs-bio N, --jobs-fusion N   jobs submitted (default 4 and 8)
  --job-seconds S  how long each job works (default 8)
  --payload-mb N   incompressible payload in each appliance disk (default 32)`;

function options(): { dir: string; keep: boolean; down: boolean; hosts: number; pool: number; jobs: { bio: number; fusion: number }; jobSeconds: number; payloadMb: number } {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '/tmp/vonode-testbed' }, keep: { type: 'boolean', default: false }, down: { type: 'boolean', default: false },
      hosts: { type: 'string', default: '2' }, pool: { type: 'string', default: '6' }, 'jobs-bio': { type: 'string', default: '4' },
      'jobs-fusion': { type: 'string', default: '8' }, 'job-seconds': { type: 'string', default: '8' }, 'payload-mb': { type: 'string', default: '32' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const whole = (name: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} takes a whole number from ${min} to ${max}, not "${v}"`);
    return n;
  };
  if (!path.isAbsolute(values.dir) || !/^\/[A-Za-z0-9._/-]+$/.test(values.dir)) throw new Error(`--dir must be an absolute path of A-Z a-z 0-9 . _ / -, not "${values.dir}"`);
  return {
    dir: values.dir.replace(/\/+$/, ''), keep: values.keep, down: values.down,
    hosts: whole('hosts', values.hosts, 1, 8), pool: whole('pool', values.pool, 1, 100),
    jobs: { bio: whole('jobs-bio', values['jobs-bio'], 0, 200), fusion: whole('jobs-fusion', values['jobs-fusion'], 0, 200) },
    jobSeconds: whole('job-seconds', values['job-seconds'], 0, 3600), payloadMb: whole('payload-mb', values['payload-mb'], 0, 2000),
  };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const heading = (title: string): void => say(`\n== ${title}`);

const QUIET_OPERATION_STATES = new Set([OperationState.OPERATION_STATE_QUEUED, OperationState.OPERATION_STATE_RUNNING]);

/** Every node's VO and state, as the events tell it, for the running tally. */
const nodes = new Map<string, { vo: string; state: NodeState }>();

/** "bio 2 running, 1 deploying | fusion 4 running": the ratio taking shape. */
function tally(): string {
  const label: Partial<Record<NodeState, string>> = {
    [NodeState.NODE_STATE_DEPLOYING]: 'deploying', [NodeState.NODE_STATE_RUNNING]: 'running',
    [NodeState.NODE_STATE_DRAINING]: 'draining', [NodeState.NODE_STATE_REMOVING]: 'removing',
  };
  return VOS.map((vo) => {
    const mine = [...nodes.values()].filter((n) => n.vo === vo);
    const parts = Object.entries(label).map(([st, name]) => [mine.filter((n) => String(n.state) === st).length, name] as const).filter(([k]) => k > 0);
    return `${vo} ${parts.map(([k, name]) => `${k} ${name}`).join(', ') || 'none'}`;
  }).join(' | ');
}

/** Live view: phase ends, node state changes (with the tally) and how operations end (not every start). */
function showEvent(e: CoordinatorEvent): void {
  const ev = e.event;
  if (ev?.$case === 'phase' && ev.value.edge !== Edge.EDGE_END) return;
  if (ev?.$case === 'operation' && QUIET_OPERATION_STATES.has(ev.value.state)) return;
  if (ev?.$case === 'phase' || ev?.$case === 'node' || ev?.$case === 'operation') say(`  ${formatEventLine(e)}`);
  if (ev?.$case === 'node') {
    const before = nodes.get(ev.value.hostname)?.state;
    if (ev.value.state === NodeState.NODE_STATE_FAILED) nodes.delete(ev.value.hostname);
    else nodes.set(ev.value.hostname, { vo: ev.value.vo, state: ev.value.state });
    if (before !== ev.value.state) say(`  ~~ nodes: ${tally()}`);
  }
  if (ev?.$case === 'operation' && ev.value.state === OperationState.OPERATION_STATE_SUCCEEDED && ev.value.kind !== OperationKind.OPERATION_KIND_DEPLOY) {
    nodes.delete(ev.value.node);
    say(`  ~~ nodes: ${tally()}`);
  }
}

/** Stops whatever a kept testbed in `dir` runs (everything lives in its namespaces) and deletes it. */
async function tearDownKept(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  // Never delete a directory this program did not make (think --dir /home).
  if (entries.length > 0 && !entries.includes(TESTBED_MARKER)) throw new Error(`${dir} exists and is not a vonode testbed (no ${TESTBED_MARKER}); give another --dir`);
  const runner = new ProcessRunner();
  await runChecked(runner, ['bash', path.join(REPO, 'scripts/testbed/bdii.sh'), 'stop', path.join(dir, 'bdii')]).catch(() => undefined);
  if (await access(path.join(dir, 'sge', 'tag')).then(() => true, () => false)) {
    await runChecked(runner, ['bash', path.join(REPO, 'scripts/testbed/sge.sh'), 'stop', path.join(dir, 'sge')], { timeoutMs: 120_000 });
  }
  await rm(dir, { recursive: true, force: true });
}

function printJobs(r: ScenarioResult): void {
  heading('jobs, as they reported from inside their VMs (/etc/vonode-vo, the VO\'s tool, uname -r, the VO\'s own software at work)');
  say('JOB   QUEUE     RAN ON    VM MARKER                                  VO TOOL SAYS                                                                       GUEST KERNEL          WORK                  END');
  for (const j of r.jobs) {
    const work = `${j.work ?? '-'}${j.work === VO_SOFTWARE[j.vo].answer ? '' : ' (WRONG)'}`;
    say(`${j.id.padEnd(5)} ${(j.queue ?? '-').padEnd(9)} ${(j.host ?? '-').padEnd(9)} ${(j.marker ?? '-').padEnd(42)} ${(j.tool ?? '-').padEnd(82)} ${(j.kernel ?? '-').padEnd(21)} ${work.padEnd(21)} ${j.ended ? 'ok' : 'MISSING'}`);
  }
  for (const vo of VOS) say(`  ${vo}'s work: ${VO_SOFTWARE[vo].work}  (expected ${VO_SOFTWARE[vo].answer})`);
}

/** When the BDII stopped publishing the last node, relative to its removal. */
function bdiiLag(s: number): string {
  return s <= 0 ? `dropped ${(-s).toFixed(1)} s before the last VM was gone, while it drained` : `${s.toFixed(1)} s after the last VM was gone`;
}

function printLeftovers(r: ScenarioResult): boolean {
  heading('nothing left behind?');
  const a = r.after;
  const rows: Array<[string, string, boolean]> = [
    ['coordinator nodes', String(a.nodes), a.nodes === 0],
    ['pool leases held', String(a.poolTotal - a.poolFree), a.poolFree === a.poolTotal],
    ['SGE exec hosts (vonode nodes)', a.sgeNodes.join(' ') || 'none', a.sgeNodes.length === 0],
    ['BDII execution-environment instances', `${a.bdiiInstances} (${bdiiLag(a.bdiiZeroAfterLastRemovalS)})`, a.bdiiInstances === 0],
    ["GridWay's view (DISCOVER)", a.gwdView.join(' ') || 'no host', a.gwdView.length === 0],
  ];
  for (const [host, l] of Object.entries(a.leftovers)) {
    for (const [what, list] of Object.entries(l)) rows.push([`${host} ${what}`, list.join(' ') || 'none', list.length === 0]);
  }
  for (const [what, value, ok] of rows) say(`  ${ok ? 'ok  ' : 'LEFT'} ${what.padEnd(38)} ${value}`);
  return rows.every(([, , ok]) => ok);
}

/** The run's usage in the CLI's table, and every other format held against it; true when all agree. */
function printUsage(r: ScenarioResult): boolean {
  heading('usage records of the run (vonode accounting), every format and the APEL writer\'s messages parsed back');
  say(r.usage.table.text.trimEnd());
  const rows = usageAgreement(r.usage, r.operations.deployed.length);
  for (const row of rows) say(`  ${row.ok ? 'ok  ' : 'DIFF'} ${row.what.padEnd(36)} ${row.value}`);
  return rows.every((row) => row.ok);
}

/** How many times each hook ran, against what the events say it should; true when all match. */
function printHooks(r: ScenarioResult): boolean {
  heading('event hooks (each run\'s JSON kept by the testbed\'s recorder)');
  const expected: Record<string, number> = {
    node_deployed: r.operations.deployed.length, node_running: r.operations.deployed.length,
    drain_started: r.operations.removed.length, node_removed: r.operations.removed.length, deployment_failed: 0, agent_down: 0,
  };
  let ok = true;
  for (const name of HOOK_EVENT_NAMES) {
    const n = r.hooks.filter((h) => h.event === name).length;
    ok &&= n === expected[name];
    say(`  ${n === expected[name] ? 'ok  ' : 'DIFF'} ${name.padEnd(18)} ${String(n).padStart(3)} (expected ${expected[name]})`);
  }
  return ok;
}

async function main(): Promise<number> {
  const o = options();
  if (o.down) {
    await tearDownKept(o.dir);
    say(`removed the testbed in ${o.dir}`);
    return 0;
  }
  await tearDownKept(o.dir); // a testbed an earlier --keep left here
  const site = new SiteTestbed({ dir: o.dir, hosts: o.hosts, poolSize: o.pool, payloadMb: o.payloadMb, say: (l) => say(`  ${l}`) });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    heading('tearing down');
    await site.stop();
    await rm(o.dir, { recursive: true, force: true });
    say(`  done: ${o.dir} removed, every process stopped, namespaces deleted`);
  };
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) process.once(sig, () => void stop().then(() => process.exit(code)));
  try {
    heading(`starting the testbed in ${o.dir}`);
    await site.start();
    heading(`scenario: jobs wait in ${VOS.map((v) => `${v}.q`).join(' and ')}; the coordinator deploys VMs (live events)`);
    const result = await runAcceptanceScenario(site, { jobs: o.jobs, jobSeconds: o.jobSeconds, say: (l) => say(`>> ${l}`), onEvent: showEvent });
    say(`>> at the peak: ${VOS.map((v) => `${v} ${result.peak[v]}`).join(', ')} of ${o.pool} (policy weights bio:fusion = 1:2); the BDII counted ${result.peakBdiiInstances} instances; GridWay's DISCOVER listed ${result.peakGwdView.length} hosts`);
    printJobs(result);
    heading('deployment timings, Table 2 style (vonode timings)');
    say(await site.cli(['timings']));
    heading('removal timings, Table 3 style (vonode timings --removals)');
    say(await site.cli(['timings', '--removals']));
    heading('per layer, Figure 3 style (vonode timings --layers)');
    say(await site.cli(['timings', '--layers']));
    const accounted = printUsage(result);
    const hooked = printHooks(result);
    const clean = printLeftovers(result);
    const allRan = result.jobs.every((j) => j.ended && j.marker?.startsWith(`vo=${j.vo} `) && j.work === VO_SOFTWARE[j.vo].answer);
    say(`\nreleased jobs → peak: ${result.wall.toPeakS.toFixed(1)} s; → every node gone: ${result.wall.toEmptyS.toFixed(1)} s`);
    if (o.keep) {
      heading('--keep: the testbed stays up');
      say(`  CLI:       ${o.dir}/vonode status | nodes | hosts | timings | events | deploy --vo bio | drain NODE`);
      say(`  logs:      ${o.dir}/coordinator/coordinator.log, ${o.dir}/hosts/*/agent.log, ${o.dir}/logs/`);
      say(`  tear down: scripts/demo.sh --down --dir ${o.dir}`);
      await site.keepGwdRunning();
      say(`  GridWay:   the MAD and its gwd stand-in keep running on the frontend (${o.dir}/logs/gwd-stand-in.log)`);
    } else {
      await stop();
    }
    return clean && allRan && accounted && hooked ? 0 : 1;
  } catch (e) {
    process.stderr.write(`\ndemo failed: ${(e as Error).message}\n`);
    if (!o.keep) await stop().catch(() => undefined);
    else say(`the testbed is left up for inspection (scripts/demo.sh --down --dir ${o.dir})`);
    return 1;
  }
}

if (process.getuid?.() !== 0) {
  process.stderr.write('demo: run as root (it creates network namespaces, bridges, tap devices and QEMU guests): sudo ./scripts/demo.sh\n');
  process.exit(2);
}
main().then((code) => process.exit(code), (e: Error) => {
  process.stderr.write(`demo: ${e.message}\n${USAGE}\n`);
  process.exit(2);
});
