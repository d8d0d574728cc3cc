import { expect } from 'chai';
import { mkdtemp, readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { NodeState, OperationKind, OperationState, type CoordinatorEvent } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import type { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { until } from '../../../helpers/wait.js';

// Demand-driven scaling with a REAL Slurm 22.05 controller: jobs wait in the
// bio and fusion partitions, the coordinator deploys nodes in the policy's
// 2:5 ratio as dynamic nodes, each node's slurmd -Z (started in a namespace
// named after it when its simulated guest boots: the agents use the
// SIMULATED hypervisor here) joins, the jobs run on the nodes, demand ends,
// the nodes drain and go, and no job is killed.

const SCRIPT = path.resolve(import.meta.dirname, '../../../../scripts/testbed/slurm.sh');
const POOL = 7;
const runner = new ProcessRunner();

describe('demand-driven scaling with a real Slurm (coordinator, agents, slurmctld, slurmd -Z)', function () {
  this.timeout(300_000);
  let dir = '';
  let site: TestSite;
  let client: CoordinatorClient;
  const events: CoordinatorEvent[] = [];
  const watch = new AbortController();
  const testbed = (...args: string[]): Promise<string> => runChecked(runner, ['bash', SCRIPT, ...args], { timeoutMs: 300_000 }).then((r) => r.stdout.trim());
  const onCtl = (...argv: string[]): Promise<string> => testbed('exec', dir, ...argv);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await testbed('install');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-slurm-scale-'));
    const started = await testbed('start', dir);
    const value = (key: string): string => {
      const v = new RegExp(`^${key}=(.+)$`, 'm').exec(started)?.[1];
      if (!v) throw new Error(`slurm.sh start printed no ${key}: ${started}`);
      return v;
    };
    // The pool's names resolve in the cluster (here: the testbed's hosts file), as DNS would.
    // Slurm reaches a dynamic node at the address it was created with (the lease's): the pool uses the cluster's addresses.
    const poolAddresses: Array<{ hostname: string; ip: string }> = [];
    for (let i = 1; i <= POOL; i++) {
      const hostname = `vwn-${String(i).padStart(3, '0')}`;
      const ip = /ip=(\S+)/.exec(await testbed('add-host', dir, hostname))?.[1];
      if (!ip) throw new Error(`slurm.sh add-host printed no ip for ${hostname}`);
      poolAddresses.push({ hostname, ip });
    }
    await writeFile(path.join(dir, 'jobs', 'job.sh'), '#!/bin/sh\necho "start host=$(hostname) queue=$SLURM_JOB_PARTITION"\nsleep "$1"\necho "end ok"\n');
    await chmod(path.join(dir, 'jobs', 'job.sh'), 0o755);
    const guest = { guestCommand: ['bash', SCRIPT, 'start-slurmd', dir, '{hostname}'], haltCommand: ['bash', SCRIPT, 'stop-slurmd', dir, '{hostname}'] };
    site = new TestSite({
      agents: [{ name: 'phys-a', simulated: guest }, { name: 'phys-b', simulated: guest }],
      poolSize: POOL,
      poolAddresses,
      coordinator: {
        batchSystem: {
          kind: 'slurm', scalingInterval: '1s',
          slurm: { conf: value('slurm_conf'), commandPrefix: ['nsenter', `--net=${value('netns')}`] },
        },
      },
      policy: (appliance) => ({
        cooldowns: { scaleUp: '1s', scaleDown: '2s' }, idleBeforeDrain: '2s',
        vos: {
          bio: { weight: 2, min: 0, max: POOL, queue: 'bio', vm: { vcpus: 1, memory: '64MiB' }, appliance },
          fusion: { weight: 5, min: 0, max: POOL, queue: 'fusion', vm: { vcpus: 1, memory: '64MiB' }, appliance },
        },
      }),
    });
    await site.start();
    client = site.client();
    void (async () => {
      try {
        for await (const e of client.watchEvents(watch.signal)) events.push(e);
      } catch {
        // ends with the test
      }
    })();
  });

  afterEach(async function () {
    // The daemons' own words are the fastest way to see why a scaling run stalled.
    if (this.currentTest?.state !== 'failed') return;
    console.log(site.recentLogs(2000).split('\n').filter((l) => l.startsWith('[coordinator]')).slice(-60).join('\n'));
    console.log(await onCtl('squeue', '-a').catch((e: unknown) => String(e)));
    console.log(await onCtl('scontrol', '--future', '--oneliner', 'show', 'node').catch((e: unknown) => String(e)));
  });
  after(async () => {
    watch.abort();
    client?.close();
    await site?.stop();
    if (dir) await testbed('stop', dir).catch(() => undefined);
  });

  it('deploys nodes in the 2:5 ratio for waiting jobs, runs the jobs on them, then drains and removes them without killing a job', async () => {
    const jobs: Array<{ id: string; queue: string }> = [];
    for (const queue of ['bio', 'fusion']) {
      for (let i = 0; i < 10; i++) {
        // Held until all are in: the coordinator must see both VOs' demand at once, not bio's first.
        const id = await onCtl('sbatch', '--parsable', '--hold', '-p', queue, '-D', path.join(dir, 'jobs'), '-o', path.join(dir, 'jobs', 'job-%j.out'), path.join(dir, 'jobs', 'job.sh'), '6');
        jobs.push({ id, queue });
      }
    }
    // scontrol releases them but exits 1 with "partition configuration not available now" (no node yet): expected.
    const released = await runner.run(['bash', SCRIPT, 'exec', dir, 'scontrol', 'release', jobs.map((j) => j.id).join(',')]);
    expect(released.stderr.split('\n').filter((l) => l && !/partition configuration not available now/.test(l)), released.stderr).to.deep.equal([]);
    // Capacity is the pool (7): the fair shares of 2:5 with both VOs short of nodes.
    const peak = await until('the pool full of running nodes', async () => {
      const { nodes } = await client.listNodes();
      return nodes.filter((n) => n.state === NodeState.NODE_STATE_RUNNING).length === POOL ? nodes : undefined;
    }, 120_000);
    const count = (vo: string): number => peak.filter((n) => n.vo === vo).length;
    expect(count('bio'), 'bio nodes').to.be.within(1, 3);
    expect(count('fusion'), 'fusion nodes').to.be.within(4, 6);
    expect(count('bio') + count('fusion')).to.equal(POOL);

    // Every job runs to its end; then demand is 0 and every node drains and goes.
    await until('all nodes gone', async () => ((await client.listNodes()).nodes.length === 0 ? true : undefined), 60_000);
    const outputs = await Promise.all(jobs.map(async (j) => ({ ...j, out: await readFile(path.join(dir, 'jobs', `job-${j.id}.out`), 'utf8').catch(() => '') })));
    // A pool triple may serve bio, then fusion: keep every VO a hostname served.
    const vosOfNode = new Map<string, Set<string>>();
    for (const e of events) if (e.event?.$case === 'node') vosOfNode.set(e.event.value.hostname, new Set([...(vosOfNode.get(e.event.value.hostname) ?? []), e.event.value.vo]));
    for (const j of outputs) {
      expect(j.out, `job ${j.id} finished (not killed)`).to.match(/end ok/);
      const host = /host=(\S+)/.exec(j.out)?.[1] ?? '';
      expect(host, `job ${j.id} ran on a vonode node`).to.match(/^vwn-\d{3}$/);
      expect(/queue=(\S+)/.exec(j.out)?.[1], `job ${j.id} ran in its own queue`).to.equal(j.queue);
      expect([...(vosOfNode.get(host) ?? [])], `job ${j.id} ran on a node of its own VO`).to.include(j.queue);
    }
    const known = (await onCtl('scontrol', '--future', '--oneliner', 'show', 'node').catch(() => '')).split('\n').filter((l) => /NodeName=vwn-/.test(l));
    expect(known, 'Slurm knows no node any more').to.deep.equal([]);
    expect((await client.status()).poolFree).to.equal(POOL);
    for (const a of site.agents) expect(await readdir(a.hostsDir).then((f) => f.filter((x) => !x.startsWith('.')))).to.deep.equal([]);

    // Figures: SR per deployment, DRN per drain (coordinator clock).
    const { operations } = await client.timings(0);
    const sr = operations.filter((o) => o.operation?.kind === OperationKind.OPERATION_KIND_DEPLOY && o.operation.state === OperationState.OPERATION_STATE_SUCCEEDED)
      .flatMap((o) => o.phases.filter((p) => p.phase === Phase.PHASE_SR).map((p) => p.durationMs));
    const drn = operations.filter((o) => o.operation?.kind === OperationKind.OPERATION_KIND_DRAIN).flatMap((o) => o.phases.filter((p) => p.phase === Phase.PHASE_DRN).map((p) => p.durationMs));
    expect(sr.length).to.be.at.least(POOL);
    console.log(`      SR (lease -> idle in the VO partition) ms: ${sr.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`      DRN (drain: disable, last job, deregister) ms: ${drn.map((x) => x.toFixed(0)).join(' ')}`);
  });
});
