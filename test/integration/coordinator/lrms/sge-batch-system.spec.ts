import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SgeBatchSystem } from '../../../../coordinator/lrms/sge/sge-batch-system.js';
import type { NodeRecord } from '../../../../coordinator/store/records.js';
import { silentLogger } from '../../../../shared/logger.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { sleep, until } from '../../../helpers/wait.js';

// A real sge_qmaster and real sge_execds, each "host" a network + UTS
// namespace made by scripts/testbed/sge.sh (the execds stand in for the VMs).
const SCRIPT = path.resolve(import.meta.dirname, '../../../../scripts/testbed/sge.sh');
const MASTER = 'sge-master';
const runner = new ProcessRunner();

function node(hostname: string, ip: string, vo = 'bio'): NodeRecord {
  return { hostname, ip, mac: '52:54:00:00:00:01', vo, host: 'h1', state: 'running', operationId: 'op', sinceMs: 0, error: '' };
}

describe('coordinator/lrms/SgeBatchSystem (real qmaster and execds in namespaces)', function () {
  this.timeout(120_000);
  let dir = '';
  let jobsDir = '';
  let sge: SgeBatchSystem;
  const ips = new Map<string, string>();

  const testbed = (...args: string[]): Promise<string> => runChecked(runner, ['bash', SCRIPT, ...args], { timeoutMs: 300_000 }).then((r) => r.stdout.trim());
  const onMaster = (...argv: string[]): Promise<string> => testbed('exec', dir, MASTER, ...argv);
  const onMasterResult = (...argv: string[]) => runner.run(['bash', SCRIPT, 'exec', dir, MASTER, ...argv]);
  /** Submits jobsDir/job.sh SECONDS as the unprivileged user (SGE never runs a job as root); returns the job id. */
  const submit = (queue: string, seconds: number): Promise<string> =>
    onMaster('runuser', '-u', 'nobody', '--', 'qsub', '-terse', '-q', queue, '-wd', jobsDir, '-o', jobsDir, '-j', 'y', path.join(jobsDir, 'job.sh'), String(seconds));
  const output = (jobId: string): Promise<string> => readFile(path.join(jobsDir, `job.sh.o${jobId}`), 'utf8').catch(() => '');
  const jobGone = async (jobId: string): Promise<boolean> => (await onMasterResult('qstat', '-j', jobId)).code !== 0;
  const addHost = async (name: string): Promise<NodeRecord> => {
    const line = await testbed('add-host', dir, name);
    const ip = /ip=(\S+)/.exec(line)?.[1];
    if (!ip) throw new Error(`add-host printed no ip: ${line}`);
    ips.set(name, ip);
    return node(name, ip);
  };
  /** What a booting VM does: its execd starts once the exec host exists (an execd started earlier exits). */
  const bootWhenRegistered = async (name: string): Promise<number> => {
    await until(`exec host ${name}`, async () => ((await onMasterResult('qconf', '-se', name)).code === 0 ? true : undefined), 30_000, 50);
    const started = performance.now();
    await testbed('start-execd', dir, name);
    return started;
  };
  const execHosts = async (): Promise<string[]> => (await onMasterResult('qconf', '-sel')).stdout.split('\n').filter(Boolean);
  const hostgroup = async (group: string): Promise<string> => onMaster('qconf', '-shgrp', group);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await testbed('install');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-sge-'));
    await testbed('start', dir, MASTER);
    jobsDir = path.join(dir, 'jobs');
    await writeFile(
      path.join(jobsDir, 'job.sh'),
      '#!/bin/sh\n#$ -S /bin/sh\necho "start job=$JOB_ID host=$(hostname) queue=$QUEUE user=$(id -un)"\nsleep "${1:-0}"\necho "end $(date +%s%N)"\n',
    );
    await chmod(path.join(jobsDir, 'job.sh'), 0o755);
    sge = new SgeBatchSystem({
      placeholderHost: MASTER,
      sgeRoot: path.join(dir, 'root'),
      sgeCell: 'default',
      commandPrefix: ['bash', SCRIPT, 'exec', dir, MASTER],
      binDir: '/usr/lib/gridengine',
      pollIntervalMs: 200,
      logger: silentLogger(),
    });
    await sge.ensureVoQueue('bio.q', '@bio');
    await sge.ensureVoQueue('fusion.q', '@fusion');
    await sge.ensureVoQueue('bio.q', '@bio'); // idempotent
  });

  after(async () => {
    if (dir) {
      await testbed('stop', dir);
      await rm(dir, { recursive: true, force: true });
    }
  });

  let waiting = '';

  it('(1) accepts a job into an EMPTY VO queue (placeholder instance) and reports it as demand', async () => {
    expect(await sge.hosts()).to.deep.equal([]); // placeholders are not nodes
    waiting = await submit('bio.q', 1);
    const fusion = await submit('fusion.q', 0);
    const demand = await sge.demand(['bio.q', 'fusion.q', 'other.q']);
    expect(demand.get('bio.q')).to.deep.equal({ queue: 'bio.q', pending: 1, running: 0 });
    expect(demand.get('fusion.q')).to.deep.equal({ queue: 'fusion.q', pending: 1, running: 0 });
    expect(demand.get('other.q')).to.deep.equal({ queue: 'other.q', pending: 0, running: 0 });
    await onMaster('qdel', fusion);
  });

  it('(2) registers a node: SR ends when bio.q@node takes jobs, and the waiting job runs there as an unprivileged user', async () => {
    const n1 = await addHost('bio-n1');
    const t0 = performance.now();
    const boot = bootWhenRegistered('bio-n1');
    await sge.register({ node: n1, queue: 'bio.q', slots: 1 }, AbortSignal.timeout(60_000));
    const sr = performance.now() - t0;
    const fromExecd = performance.now() - (await boot);
    console.log(`      SR: ${sr.toFixed(0)} ms from register() (${fromExecd.toFixed(0)} ms after the execd started)`);

    // the waiting job may already have been dispatched to it
    expect((await sge.hosts()).map(({ hostname, queue, state }) => ({ hostname, queue, state }))).to.deep.equal([{ hostname: 'bio-n1', queue: 'bio.q', state: 'available' }]);
    expect(await onMaster('qconf', '-sconf', 'bio-n1')).to.match(/gid_range\s+21100-21199/);
    expect(await hostgroup('@bio')).to.match(/hostlist\s+bio-n1/);

    await until(`job ${waiting} to finish`, async () => ((await jobGone(waiting)) ? true : undefined), 30_000, 200);
    const out = await output(waiting);
    expect(out).to.match(new RegExp(`start job=${waiting} host=bio-n1 queue=bio.q user=nobody`));
    expect(out).to.match(/^end \d+$/m);
  });

  it('(3) drains without killing the running job, then removes the node within 3 s of the job ending', async () => {
    const job = await submit('bio.q', 4);
    await until(`job ${job} to run`, async () => ((await output(job)).includes('start') ? true : undefined), 30_000, 100);
    const drained = sge.drain(node('bio-n1', ips.get('bio-n1')!), AbortSignal.timeout(60_000));
    let done = false;
    void drained.then(() => (done = true), () => (done = true));

    // the instance is disabled: a job submitted now stays pending, and drain waits
    await until('bio.q@bio-n1 disabled', async () => ((await sge.hosts()).some((h) => h.hostname === 'bio-n1' && h.state === 'disabled') ? true : undefined), 10_000);
    const late = await submit('bio.q', 0);
    await sleep(1500);
    expect(done, 'drain must wait for the running job').to.equal(false);
    expect((await sge.demand(['bio.q'])).get('bio.q')).to.deep.equal({ queue: 'bio.q', pending: 1, running: 1 });

    await drained;
    const goneAt = Date.now();
    const out = await output(job);
    const endLine = /^end (\d+)$/m.exec(out);
    expect(endLine, `job ${job} must run to its end, not be killed:\n${out}`).to.not.equal(null);
    const jobEndMs = Number(BigInt(endLine![1]!) / 1_000_000n);
    const accounting = await onMaster('qacct', '-j', job);
    expect(accounting).to.match(/^exit_status\s+0\s*$/m).and.match(/^failed\s+0\s*$/m);
    console.log(`      drain: node gone from the batch system ${goneAt - jobEndMs} ms after its last job ended`);
    expect(goneAt - jobEndMs).to.be.below(3000);

    expect(await execHosts()).to.not.include('bio-n1');
    expect(await hostgroup('@bio')).to.not.match(/bio-n1/);
    expect(await onMasterResult('qconf', '-sconf', 'bio-n1')).to.have.property('code').that.not.equals(0);
    expect(await onMaster('qconf', '-sq', 'bio.q')).to.not.match(/bio-n1/);
    expect((await sge.hosts()).map((h) => h.hostname)).to.not.include('bio-n1');
    expect(await jobGone(late)).to.equal(false); // still waiting for a node
    await onMaster('qdel', late);
  });

  it('(4) reports a node whose execd vanished as unreachable; deregistering it puts its job back in the queue', async () => {
    const n2 = await addHost('bio-n2');
    const boot = bootWhenRegistered('bio-n2');
    await sge.register({ node: n2, queue: 'bio.q', slots: 2 }, AbortSignal.timeout(60_000));
    await boot;
    expect(await sge.hosts()).to.deep.include({ hostname: 'bio-n2', queue: 'bio.q', state: 'available', runningJobs: 0 });
    expect(await onMaster('qconf', '-sq', 'bio.q')).to.match(/\[bio-n2=2\]/);
    const job = await submit('bio.q', 600);
    await until(`job ${job} to run`, async () => ((await output(job)).includes('host=bio-n2') ? true : undefined), 30_000, 100);

    await testbed('kill-execd', dir, 'bio-n2');
    const killed = performance.now();
    const seen = await until('bio-n2 unreachable', async () => (await sge.hosts()).find((h) => h.hostname === 'bio-n2' && h.state === 'unreachable'), 60_000, 250);
    console.log(`      vanished execd (kill -9) reported unreachable after ${((performance.now() - killed) / 1000).toFixed(1)} s (max_unheard 5 s, load_report_time 1 s)`);
    expect(seen.runningJobs).to.equal(1);

    await sge.deregister('bio-n2'); // the coordinator's clean-up of a vanished node
    expect(await execHosts()).to.not.include('bio-n2');
    expect(await onMaster('qconf', '-sq', 'bio.q')).to.not.match(/bio-n2/);
    expect((await sge.demand(['bio.q'])).get('bio.q')).to.deep.equal({ queue: 'bio.q', pending: 1, running: 0 });
    await onMaster('qdel', job);
  });

  it('(5) deregisters idempotently, also a host SGE never knew', async () => {
    await sge.deregister('bio-n1');
    await sge.deregister('bio-n2');
    await sge.deregister('bio-n2');
    await addHost('spare-n3'); // resolvable, never registered
    await sge.deregister('spare-n3');
    await sge.drain(node('spare-n3', ips.get('spare-n3')!), AbortSignal.timeout(10_000));
    expect(await execHosts()).to.deep.equal([MASTER]);
    expect(existsSync(path.join(dir, 'spool', 'qmaster', 'qmaster.pid'))).to.equal(true);
  });
});
