import { expect } from 'chai';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { slurmConfForVos } from '../../../../coordinator/lrms/slurm/slurm-conf.js';
import { SlurmBatchSystem } from '../../../../coordinator/lrms/slurm/slurm-batch-system.js';
import { SlurmPartitionError } from '../../../../coordinator/lrms/slurm/slurm-errors.js';
import { parseSqueueJobs } from '../../../../coordinator/lrms/slurm/slurm-json.js';
import type { NodeRecord } from '../../../../coordinator/store/records.js';
import { silentLogger } from '../../../../shared/logger.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { sleep, until } from '../../../helpers/wait.js';

// A real munged + slurmctld and real `slurmd -Z` dynamic nodes, each node a
// network + mount + UTS namespace made by scripts/testbed/slurm.sh (the
// slurmds stand in for the VMs' execution daemons).
const SCRIPT = path.resolve(import.meta.dirname, '../../../../scripts/testbed/slurm.sh');
const runner = new ProcessRunner();

function node(hostname: string, ip: string, vo = 'bio'): NodeRecord {
  return { hostname, ip, mac: '52:54:00:00:00:01', vo, host: 'h1', state: 'running', operationId: 'op', sinceMs: 0, error: '' };
}

describe('coordinator/lrms/SlurmBatchSystem (real slurmctld and slurmd -Z nodes in namespaces)', function () {
  this.timeout(120_000);
  let dir = '';
  let jobsDir = '';
  let slurm: SlurmBatchSystem;
  const ips = new Map<string, string>();
  const daemonPids = new Set<number>();

  const testbed = (...args: string[]): Promise<string> => runChecked(runner, ['bash', SCRIPT, ...args], { timeoutMs: 300_000 }).then((r) => r.stdout.trim());
  const onCtl = (...argv: string[]): Promise<string> => testbed('exec', dir, ...argv);
  const onCtlResult = (...argv: string[]) => runner.run(['bash', SCRIPT, 'exec', dir, ...argv]);
  /** Submits jobsDir/job.sh SECONDS to a partition; returns the job id. */
  const submit = (partition: string, seconds: number): Promise<string> =>
    onCtl('sbatch', '--parsable', '-p', partition, '-D', jobsDir, '-o', path.join(jobsDir, 'job-%j.out'), path.join(jobsDir, 'job.sh'), String(seconds));
  const output = (jobId: string): Promise<string> => readFile(path.join(jobsDir, `job-${jobId}.out`), 'utf8').catch(() => '');
  const job = async (jobId: string) => parseSqueueJobs(await onCtl('squeue', '--json')).find((j) => String(j.id) === jobId);
  const known = async (name: string): Promise<boolean> => (await onCtlResult('scontrol', '--future', '--oneliner', 'show', 'node', name)).code === 0;
  const addHost = async (name: string, vo = 'bio'): Promise<NodeRecord> => {
    const line = await testbed('add-host', dir, name);
    const ip = /ip=(\S+)/.exec(line)?.[1];
    if (!ip) throw new Error(`add-host printed no ip: ${line}`);
    ips.set(name, ip);
    return node(name, ip, vo);
  };
  const startSlurmd = async (name: string, feature?: string): Promise<number> => {
    const pid = Number(await testbed('start-slurmd', dir, name, ...(feature ? [feature] : [])));
    daemonPids.add(pid);
    return pid;
  };
  /** What a booting VM does here: its slurmd -Z starts once the node exists (it adopts the FUTURE node). */
  const bootWhenCreated = async (name: string): Promise<number> => {
    await until(`node ${name} created`, async () => ((await known(name)) ? true : undefined), 30_000, 50);
    const started = performance.now();
    await startSlurmd(name);
    return started;
  };
  const hostStates = async () => (await slurm.hosts()).map(({ hostname, queue, state }) => ({ hostname, queue, state }));

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    this.timeout(600_000);
    await testbed('install');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-slurm-'));
    // the VO partitions come from the adapter's helper; the script's own default must say the same
    await writeFile(path.join(dir, 'partitions.conf'), slurmConfForVos(['bio', 'fusion']));
    expect(`${await testbed('print-partitions', 'bio', 'fusion')}\n`).to.equal(slurmConfForVos(['bio', 'fusion']));
    const started = await testbed('start', dir);
    const value = (key: string): string => {
      const v = new RegExp(`^${key}=(.+)$`, 'm').exec(started)?.[1];
      if (!v) throw new Error(`slurm.sh start printed no ${key}: ${started}`);
      return v;
    };
    daemonPids.add(Number(value('slurmctld_pid')));
    daemonPids.add(Number(value('munged_pid')));
    jobsDir = path.join(dir, 'jobs');
    await writeFile(
      path.join(jobsDir, 'job.sh'),
      '#!/bin/sh\necho "start job=$SLURM_JOB_ID host=$(hostname) partition=$SLURM_JOB_PARTITION"\nsleep "${1:-0}"\necho "end $(date +%s%N)"\n',
    );
    await chmod(path.join(jobsDir, 'job.sh'), 0o755);
    slurm = new SlurmBatchSystem({
      slurmConf: value('slurm_conf'),
      // the controller lives in its own network namespace; so do the clients
      commandPrefix: ['nsenter', `--net=${value('netns')}`],
      pollIntervalMs: 200,
      logger: silentLogger(),
    });
  });

  after(async function () {
    this.timeout(120_000);
    if (!dir) return;
    await testbed('stop', dir);
    // stop stops every daemon by PID; prove none of ours is left (and end one by PID if it is)
    const alive = [...daemonPids].filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    for (const pid of alive) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
    expect(alive, 'daemons still running after slurm.sh stop').to.deep.equal([]);
  });

  let waiting = '';

  it('(1) accepts a job into an EMPTY partition (pending) and reports it as demand', async () => {
    await slurm.prepare([{ vo: 'bio', queue: 'bio' }, { vo: 'fusion', queue: 'fusion' }]);
    const missing = await slurm.prepare([{ vo: 'cms', queue: 'cms' }]).catch((e: unknown) => e);
    expect(missing).to.be.instanceOf(SlurmPartitionError).with.property('message').that.contains('partition cms: is not in slurm.conf');
    expect(await slurm.hosts()).to.deep.equal([]);
    waiting = await submit('bio', 1);
    const fusion = await submit('fusion', 0);
    expect(await job(waiting)).to.include({ state: 'PENDING' });
    const demand = await slurm.demand(['bio', 'fusion', 'other']);
    expect(demand.get('bio')).to.deep.equal({ queue: 'bio', pending: 1, running: 0 });
    expect(demand.get('fusion')).to.deep.equal({ queue: 'fusion', pending: 1, running: 0 });
    expect(demand.get('other')).to.deep.equal({ queue: 'other', pending: 0, running: 0 });
    await onCtl('scancel', fusion);
  });

  it('(2) registers a node: SR ends when it is idle in bio, and the waiting job runs on it', async () => {
    const n1 = await addHost('bio-n1');
    const t0 = performance.now();
    const boot = bootWhenCreated('bio-n1');
    await slurm.register({ node: n1, queue: 'bio', slots: 1 }, AbortSignal.timeout(60_000));
    const sr = performance.now() - t0;
    const fromSlurmd = performance.now() - (await boot);
    console.log(`      SR: ${sr.toFixed(0)} ms from register() (${fromSlurmd.toFixed(0)} ms after slurmd -Z started)`);

    // the waiting job may already run on it
    expect(await hostStates()).to.deep.equal([{ hostname: 'bio-n1', queue: 'bio', state: 'available' }]);
    const t1 = performance.now();
    await until(`job ${waiting} to start`, async () => ((await output(waiting)).includes('start') ? true : undefined), 60_000, 100);
    console.log(`      the job waiting in bio started ${(performance.now() - t1).toFixed(0)} ms after SR`);
    await until(`job ${waiting} to finish`, async () => ((await output(waiting)).includes('end') ? true : undefined), 30_000, 200);
    expect(await output(waiting)).to.match(new RegExp(`^start job=${waiting} host=bio-n1 partition=bio$`, 'm'));
  });

  it('(3) drains without killing the running job, then deletes the node soon after the job ends', async () => {
    const running = await submit('bio', 4);
    await until(`job ${running} to run`, async () => ((await output(running)).includes('start') ? true : undefined), 30_000, 100);
    const drained = slurm.drain(node('bio-n1', ips.get('bio-n1')!), AbortSignal.timeout(60_000));
    let doneAt = 0;
    void drained.then(() => (doneAt = Date.now()), () => (doneAt = -1));

    // DRAIN: a job submitted now stays pending, and drain waits for the running one
    await until('bio-n1 disabled', async () => ((await hostStates()).some((h) => h.hostname === 'bio-n1' && h.state === 'disabled') ? true : undefined), 10_000);
    const late = await submit('bio', 0);
    await sleep(1000);
    expect(doneAt, 'drain resolved while a job still ran').to.equal(0);
    expect(await job(late)).to.include({ state: 'PENDING' });
    expect((await slurm.hosts()).find((h) => h.hostname === 'bio-n1')).to.include({ state: 'disabled', runningJobs: 1 });

    await drained;
    const out = await output(running);
    const endMs = Number(/^end (\d+)$/m.exec(out)?.[1]) / 1e6;
    console.log(`      drain: job end -> node deleted ${(doneAt - endMs).toFixed(0)} ms`);
    expect(out).to.match(new RegExp(`^start job=${running} host=bio-n1 partition=bio$`, 'm'));
    expect(out, 'the job ran to its end').to.match(/^end \d+$/m);
    expect(await job(running)).to.include({ state: 'COMPLETED' }); // not CANCELLED / NODE_FAIL
    expect(await known('bio-n1')).to.equal(false);
    expect(await slurm.hosts()).to.deep.equal([]);
    expect(await job(late)).to.include({ state: 'PENDING' });
    await onCtl('scancel', late);
    await testbed('stop-slurmd', dir, 'bio-n1');
  });

  it('(4) reports a node whose slurmd was killed as unreachable; deregister then sets it DOWN and deletes it', async () => {
    const f1 = await addHost('fus-n1', 'fusion');
    const boot = bootWhenCreated('fus-n1');
    await slurm.register({ node: f1, queue: 'fusion', slots: 1 }, AbortSignal.timeout(60_000));
    await boot;
    const lost = await submit('fusion', 60);
    await until(`job ${lost} to run`, async () => ((await output(lost)).includes('start') ? true : undefined), 30_000, 100);

    await testbed('kill-slurmd', dir, 'fus-n1');
    const t0 = performance.now();
    await until('fus-n1 unreachable', async () => ((await hostStates()).some((h) => h.hostname === 'fus-n1' && h.state === 'unreachable') ? true : undefined), 30_000, 200);
    const detect = performance.now() - t0;
    console.log(`      vanished: slurmd killed -> reported unreachable ${detect.toFixed(0)} ms (SlurmdTimeout=5 s)`);
    expect(detect).to.be.below(15_000);

    // its VM is gone: deregister must not wait for SlurmdTimeout to run out
    const t1 = performance.now();
    await slurm.deregister('fus-n1');
    console.log(`      deregister of the unreachable node holding a job: ${(performance.now() - t1).toFixed(0)} ms`);
    expect(await known('fus-n1')).to.equal(false);
    await onCtl('scancel', lost);
  });

  it('(5) deregisters idempotently, also a node whose slurmd registered itself before register()', async () => {
    const n2 = await addHost('bio-n2');
    // the appliance may start `slurmd -Z --conf Feature=bio` before the coordinator registers it
    await startSlurmd('bio-n2', 'bio');
    const t0 = performance.now();
    await slurm.register({ node: n2, queue: 'bio', slots: 1 }, AbortSignal.timeout(60_000));
    console.log(`      SR of a self-registered node: ${(performance.now() - t0).toFixed(0)} ms`);
    expect(await hostStates()).to.deep.equal([{ hostname: 'bio-n2', queue: 'bio', state: 'available' }]);

    await slurm.deregister('bio-n2');
    await slurm.deregister('bio-n2');
    await slurm.deregister('never-known');
    await sleep(500); // its slurmd still runs: it must not bring the node back
    expect(await known('bio-n2')).to.equal(false);
    expect(await slurm.hosts()).to.deep.equal([]);
    await slurm.drain(node('bio-n2', ips.get('bio-n2')!), AbortSignal.timeout(10_000)); // a drain after that is a no-op
    await testbed('stop-slurmd', dir, 'bio-n2');
  });
});
