import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { systemClock } from '../../../shared/clock.js';
import { NodeState, OperationKind, OperationState, type CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { HookEvent } from '../../../coordinator/hooks/hook-event.js';
import { EventStream } from './event-stream.js';
import type { HostLeftovers } from './physical-host.js';
import { QUEUE, VO_SOFTWARE, VOS, type Vo } from './site-config.js';
import type { SiteTestbed } from './site-testbed.js';
import { checkUsage, type UsageCheck } from './usage-check.js';
import { until, WaitTimeoutError } from './wait.js';

/** How much work the scenario submits. */
export interface ScenarioOptions {
  /** Jobs per VO (held, then released together so both VOs' demand is seen at once). */
  jobs: Record<Vo, number>;
  /** Seconds each job sleeps after reporting (so nodes are busy while they run). */
  jobSeconds: number;
  /** Progress lines. */
  say?: (line: string) => void;
  /** Every coordinator event, as it arrives (the demo prints them). */
  onEvent?: (e: CoordinatorEvent) => void;
}

/** What one job reported from inside its VM (through the job output collector). */
export interface JobReport {
  id: string;
  vo: Vo;
  /** Raw lines the job POSTed. */
  output: string;
  host?: string;
  queue?: string;
  /** /etc/vonode-vo of the VM it ran in. */
  marker?: string;
  /** What the VO's own tool printed (absent from another VO's appliance). */
  tool?: string;
  kernel?: string;
  /** What the VO's own software answered (see VO_SOFTWARE). */
  work?: string;
  ended: boolean;
}

/** Everything the scenario saw; the e2e test asserts on it and the demo prints it. */
export interface ScenarioResult {
  /** Running nodes per VO at the peak: the pool full, or a node per job when there are fewer jobs. */
  peak: Record<Vo, number>;
  /** At the peak: nodes the BDII counted and GridWay's (stand-in gwd's) view. */
  peakBdiiInstances: number;
  peakGwdView: string[];
  jobs: JobReport[];
  /** Every VO each pool hostname served during the run. */
  vosOfNode: Record<string, Vo[]>;
  /** After demand ended and every node drained and went. */
  after: {
    nodes: number;
    poolFree: number;
    poolTotal: number;
    sgeNodes: string[];
    bdiiInstances: number;
    /**
     * Seconds from the last drain's end (node gone: deregistered, VM destroyed)
     * until ldapsearch of the BDII first showed no instance (polled every
     * 0.5 s from the moment the jobs ended); ≤ 0 when the BDII dropped the node
     * already while it drained.
     */
    bdiiZeroAfterLastRemovalS: number;
    gwdView: string[];
    leftovers: Record<string, HostLeftovers>;
  };
  /** Seconds from releasing the jobs to the peak (the full pool, or a node per job), and to the last node gone. */
  wall: { toPeakS: number; toEmptyS: number };
  /** Operation ids the event stream saw succeed: deployments, and drains or removals. */
  operations: { deployed: string[]; removed: string[] };
  /** The run's usage records in every format the CLI prints, and the APEL writer's messages. */
  usage: UsageCheck;
  /** What the coordinator's hooks were given (the testbed's recorder), in the order they ran. */
  hooks: HookEvent[];
}

/**
 * The job of a VO: runs inside a VM and reports, over HTTP, the VM's marker,
 * what the VO's tool says, the guest kernel and the answer of the VO's own
 * software (absent from the other VO's appliance), works a while, reports its end.
 */
function jobScript(vo: Vo): string {
  return `#!/bin/sh
#$ -S /bin/sh
# vonode testbed job of VO ${vo}: seconds, collector URL.
secs=$1; url=$2/jobs/$JOB_ID
report() { wget -q -O /dev/null --post-data "$1" "$url" || echo "cannot reach $url" >&2; }
work=$( (${VO_SOFTWARE[vo].work}) 2>&1 | tr '\\n' ' ' | sed 's/ *$//')
report "job=$JOB_ID queue=$QUEUE host=$(hostname) marker=[$(cat /etc/vonode-vo 2>&1)] tool=[$(/usr/local/bin/${vo}-tool 2>&1)] kernel=$(uname -r) work=[$work]"
sleep "$secs"
report "end=ok job=$JOB_ID"
`;
}

const field = (out: string, re: RegExp): string | undefined => re.exec(out)?.[1];

/**
 * The acceptance scenario (DESIGN §7) on a started testbed: jobs wait in
 * bio.q and fusion.q → the coordinator deploys VMs in the policy's ratio →
 * each VM registers itself → the jobs run inside the VMs → demand ends →
 * nodes drain and go → nothing is left behind. Returns what it saw.
 */
export async function runAcceptanceScenario(site: SiteTestbed, o: ScenarioOptions): Promise<ScenarioResult> {
  const say = o.say ?? (() => undefined);
  const vosOfNode = new Map<string, Set<Vo>>();
  const running = new Map<string, Vo>();
  let lastRemovalUnixMs = 0;
  const deployed = new Set<string>();
  const removed = new Set<string>();
  const stream = new EventStream(site.cliArgv(['events', '--json']), (e) => {
    if (e.event?.$case === 'node') {
      const n = e.event.value;
      const vo = n.vo as Vo;
      vosOfNode.set(n.hostname, new Set([...(vosOfNode.get(n.hostname) ?? []), vo]));
      if (n.state === NodeState.NODE_STATE_RUNNING) running.set(n.hostname, vo);
      else running.delete(n.hostname);
    }
    if (e.event?.$case === 'operation' && e.event.value.state === OperationState.OPERATION_STATE_SUCCEEDED) {
      if (e.event.value.kind === OperationKind.OPERATION_KIND_DEPLOY) {
        deployed.add(e.event.value.id);
      } else {
        removed.add(e.event.value.id);
        lastRemovalUnixMs = Math.max(lastRemovalUnixMs, e.unixMs);
      }
    }
    o.onEvent?.(e);
  });
  stream.start();
  try {
    const jobs = await submitHeldJobs(site, o);
    say(`submitted ${jobs.length} held jobs (${VOS.map((vo) => `${o.jobs[vo]} to ${QUEUE[vo]}`).join(', ')}); releasing them together`);
    const released = systemClock.monotonicMs();
    const releasedUnixMs = systemClock.nowMs();
    await site.sge.asNobody(['qrls', ...jobs.map((j) => j.id)]);

    // One job slot per node: the demand fills the pool, or gets a node per job.
    const expectedPeak = Math.min(site.pool.length, VOS.reduce((n, vo) => n + o.jobs[vo], 0));
    await until(`${expectedPeak} running nodes`, () => running.size === expectedPeak, 600_000, 250);
    const toPeakS = (systemClock.monotonicMs() - released) / 1000;
    const peak = Object.fromEntries(VOS.map((vo) => [vo, [...running.values()].filter((v) => v === vo).length])) as Record<Vo, number>;
    say(`${expectedPeak === site.pool.length ? 'pool full' : `${expectedPeak} nodes running`} after ${toPeakS.toFixed(1)} s: ${VOS.map((vo) => `${vo} ${peak[vo]}`).join(', ')}`);
    const peakGwdView = await site.gwd!.discover();
    // A node runs once registered; its PUB phase may still be waiting for the BDII's next cycle.
    const peakBdiiInstances = await untilValue(() => site.bdiiInstances(), (n) => n === expectedPeak, 30_000);

    await until('every job reported its end', async () => (await readJobs(site, jobs)).every((j) => j.ended), 900_000, 1000);
    say('every job ran to its end; demand is 0, nodes drain and go');
    const bdiiEmpty = untilValue(() => site.bdiiInstances(), (n) => n === 0, 600_000).then((n) => ({ n, atUnixMs: Date.now() }));
    // proto3 JSON leaves an empty list out: {} is "no node".
    await until('every node gone', async () => ((JSON.parse(await site.cli(['nodes', '--json'])) as { nodes?: unknown[] }).nodes ?? []).length === 0, 600_000, 3000);
    const toEmptyS = (systemClock.monotonicMs() - released) / 1000;
    const { n: bdiiInstances, atUnixMs: bdiiZeroUnixMs } = await bdiiEmpty;
    const bdiiZeroAfterLastRemovalS = (bdiiZeroUnixMs - lastRemovalUnixMs) / 1000;
    const status = JSON.parse(await site.cli(['status', '--json'])) as { poolFree?: number; poolTotal?: number };
    // Usage of the whole run (from before the first deployment to after the last removal): every VM life, whole.
    const usage = await checkUsage(site, releasedUnixMs - 1000, systemClock.nowMs() + 1, deployed.size);
    say(`usage of the run: ${usage.json.vms} VM lives in the CLI's json, csv, table and apel formats; the APEL writer sent ${usage.apelWritten.messages} messages`);
    // Hooks run beside the queue: the last removal's may still be running.
    const hooks = await until('the hook of every removal ran', async () => {
      const h = await site.hookEvents();
      return h.filter((x) => x.event === 'node_removed').length >= removed.size ? h : undefined;
    }, 30_000, 250).catch(() => site.hookEvents());
    return {
      peak, peakBdiiInstances, peakGwdView,
      jobs: await readJobs(site, jobs),
      vosOfNode: Object.fromEntries([...vosOfNode].map(([h, s]) => [h, [...s]])),
      after: {
        nodes: 0, poolFree: status.poolFree ?? 0, poolTotal: status.poolTotal ?? 0,
        sgeNodes: await site.sgeNodes(), bdiiInstances, bdiiZeroAfterLastRemovalS,
        gwdView: await site.gwd!.discover(), leftovers: await site.leftovers(),
      },
      wall: { toPeakS, toEmptyS },
      operations: { deployed: [...deployed], removed: [...removed] },
      usage, hooks,
    };
  } finally {
    await stream.stop();
  }
}

async function submitHeldJobs(site: SiteTestbed, o: ScenarioOptions): Promise<Array<{ id: string; vo: Vo }>> {
  const jobs: Array<{ id: string; vo: Vo }> = [];
  for (const vo of VOS) {
    const script = path.join(site.sge.dir, 'jobs', `${vo}-job.sh`);
    await writeFile(script, jobScript(vo));
    await chmod(script, 0o755);
    for (let i = 0; i < o.jobs[vo]; i++) {
      // -wd/-o name the guest's /tmp: the job runs inside the VM, not on the frontend.
      const { stdout } = await site.sge.asNobody(['qsub', '-terse', '-h', '-q', QUEUE[vo], '-N', `${vo}-job`, '-wd', '/tmp', '-o', '/tmp', '-j', 'y', script, String(o.jobSeconds), site.jobOutputUrl]);
      jobs.push({ id: stdout.trim(), vo });
    }
  }
  return jobs;
}

/** Submits one job of `vo` to `target` (a queue, or queue@node), running `seconds`; resolves with its id. Read it back with readJobs. */
export async function submitJob(site: SiteTestbed, vo: Vo, target: string, seconds: number): Promise<string> {
  const script = path.join(site.sge.dir, 'jobs', `${vo}-job.sh`);
  await mkdir(path.dirname(script), { recursive: true });
  await writeFile(script, jobScript(vo));
  await chmod(script, 0o755);
  const { stdout } = await site.sge.asNobody(['qsub', '-terse', '-q', target, '-N', `${vo}-job`, '-wd', '/tmp', '-o', '/tmp', '-j', 'y', script, String(seconds), site.jobOutputUrl]);
  return stdout.trim();
}

/** What each job reported so far. */
export async function readJobs(site: SiteTestbed, jobs: ReadonlyArray<{ id: string; vo: Vo }>): Promise<JobReport[]> {
  return Promise.all(jobs.map(async ({ id, vo }) => {
    const output = await readFile(path.join(site.jobOutputDir, `${id}.out`), 'utf8').catch(() => '');
    const report: JobReport = { id, vo, output, ended: /^end=ok/m.test(output) };
    const put = <K extends 'host' | 'queue' | 'marker' | 'tool' | 'kernel' | 'work'>(k: K, re: RegExp): void => {
      const v = field(output, re);
      if (v !== undefined) report[k] = v;
    };
    put('host', /host=(\S+)/);
    put('queue', /queue=(\S+)/);
    put('marker', /marker=\[([^\]]*)\]/);
    put('tool', /tool=\[([^\]]*)\]/);
    put('kernel', /\] kernel=(\S+)/);
    put('work', /work=\[([^\]]*)\]/);
    return report;
  }));
}

/** Polls `read` every 0.5 s until `ok` holds; after `timeoutMs`, the last value read (the report shows it instead of a timeout). */
async function untilValue<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  let last: { v: T } | undefined;
  try {
    return (await until('the expected value', async () => {
      last = { v: await read() };
      return ok(last.v) && last;
    }, timeoutMs, 500)).v;
  } catch (e) {
    if (e instanceof WaitTimeoutError && last) return last.v;
    throw e;
  }
}
