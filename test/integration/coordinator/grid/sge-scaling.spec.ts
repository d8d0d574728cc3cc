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

// Demand-driven scaling with a REAL SGE qmaster: jobs wait in bio.q and
// fusion.q, the coordinator deploys nodes in the policy's 2:5 ratio, each
// node's execd (started in a namespace named after it when its simulated
// guest boots: the agents use the SIMULATED hypervisor here; real VMs run
// in the testbed's e2e test) registers, the jobs run on the nodes, demand
// ends, the nodes drain and go, and no job is killed.

const SCRIPT = path.resolve(import.meta.dirname, '../../../../scripts/testbed/sge.sh');
const MASTER = 'sge-master';
const POOL = 7;
const runner = new ProcessRunner();

describe('demand-driven scaling with a real SGE (coordinator, agents, qmaster, execds)', function () {
  this.timeout(300_000);
  let dir = '';
  let site: TestSite;
  let client: CoordinatorClient;
  const events: CoordinatorEvent[] = [];
  const watch = new AbortController();
  const testbed = (...args: string[]): Promise<string> => runChecked(runner, ['bash', SCRIPT, ...args], { timeoutMs: 300_000 }).then((r) => r.stdout.trim());
  const onMaster = (...argv: string[]): Promise<string> => testbed('exec', dir, MASTER, ...argv);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await testbed('install');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-sge-scale-'));
    await testbed('start', dir, MASTER);
    // The pool's names resolve in the cluster (here: the testbed's hosts file), as DNS would.
    for (let i = 1; i <= POOL; i++) await testbed('add-host', dir, `vwn-${String(i).padStart(3, '0')}`);
    await writeFile(path.join(dir, 'jobs', 'job.sh'), '#!/bin/sh\n#$ -S /bin/sh\necho "start host=$(hostname) queue=$QUEUE"\nsleep "$1"\necho "end ok"\n');
    await chmod(path.join(dir, 'jobs', 'job.sh'), 0o755);
    const guest = { guestCommand: ['bash', SCRIPT, 'start-execd', dir, '{hostname}'], haltCommand: ['bash', SCRIPT, 'kill-execd', dir, '{hostname}'] };
    site = new TestSite({
      agents: [{ name: 'phys-a', simulated: guest }, { name: 'phys-b', simulated: guest }],
      poolSize: POOL,
      coordinator: {
        batchSystem: {
          kind: 'sge', scalingInterval: '1s',
          sge: { root: path.join(dir, 'root'), cell: 'default', binDir: '/usr/lib/gridengine', placeholderHost: MASTER, commandPrefix: ['bash', SCRIPT, 'exec', dir, MASTER] },
        },
      },
      policy: (appliance) => ({
        cooldowns: { scaleUp: '1s', scaleDown: '2s' }, idleBeforeDrain: '2s',
        vos: {
          bio: { weight: 2, min: 0, max: POOL, queue: 'bio.q', vm: { vcpus: 1, memory: '64MiB' }, appliance },
          fusion: { weight: 5, min: 0, max: POOL, queue: 'fusion.q', vm: { vcpus: 1, memory: '64MiB' }, appliance },
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

  afterEach(function () {
    // The daemons' own words are the fastest way to see why a scaling run stalled.
    if (this.currentTest?.state === 'failed') console.log(site.recentLogs(300).split('\n').filter((l) => l.startsWith('[coordinator]')).slice(-120).join('\n'));
  });
  after(async () => {
    watch.abort();
    client?.close();
    await site?.stop();
    if (dir) await testbed('stop', dir).catch(() => undefined);
  });

  it('deploys nodes in the 2:5 ratio for waiting jobs, runs the jobs on them, then drains and removes them without killing a job', async () => {
    const jobs: Array<{ id: string; queue: string }> = [];
    for (const queue of ['bio.q', 'fusion.q']) {
      for (let i = 0; i < 10; i++) {
        // Held until all are in: the coordinator must see both VOs' demand at once, not bio's first.
        const id = await onMaster('runuser', '-u', 'nobody', '--', 'qsub', '-terse', '-h', '-q', queue, '-wd', path.join(dir, 'jobs'), '-o', path.join(dir, 'jobs'), '-j', 'y', path.join(dir, 'jobs', 'job.sh'), '6');
        jobs.push({ id, queue });
      }
    }
    await onMaster('runuser', '-u', 'nobody', '--', 'qrls', ...jobs.map((j) => j.id));
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
    await until('all nodes gone', async () => ((await client.listNodes()).nodes.length === 0 ? true : undefined), 180_000);
    const outputs = await Promise.all(jobs.map(async (j) => ({ ...j, out: await readFile(path.join(dir, 'jobs', `job.sh.o${j.id}`), 'utf8').catch(() => '') })));
    // A pool triple may serve bio, then fusion: keep every VO a hostname served.
    const vosOfNode = new Map<string, Set<string>>();
    for (const e of events) if (e.event?.$case === 'node') vosOfNode.set(e.event.value.hostname, new Set([...(vosOfNode.get(e.event.value.hostname) ?? []), e.event.value.vo]));
    for (const j of outputs) {
      expect(j.out, `job ${j.id} finished (not killed)`).to.match(/end ok/);
      const host = /host=(\S+)/.exec(j.out)?.[1] ?? '';
      expect(host, `job ${j.id} ran on a vonode node`).to.match(/^vwn-\d{3}$/);
      expect(/queue=(\S+)/.exec(j.out)?.[1], `job ${j.id} ran in its own queue`).to.equal(j.queue);
      expect([...(vosOfNode.get(host) ?? [])].map((vo) => `${vo}.q`), `job ${j.id} ran on a node of its own VO`).to.include(j.queue);
    }
    const execHosts = (await onMaster('qconf', '-sel').catch(() => '')).split('\n').filter((h) => h.startsWith('vwn-'));
    expect(execHosts, 'SGE knows no node any more').to.deep.equal([]);
    expect((await client.status()).poolFree).to.equal(POOL);
    for (const a of site.agents) expect(await readdir(a.hostsDir).then((f) => f.filter((x) => !x.startsWith('.')))).to.deep.equal([]);

    // Figures: SR per deployment, DRN per drain (coordinator clock).
    const { operations } = await client.timings(0);
    const sr = operations.filter((o) => o.operation?.kind === OperationKind.OPERATION_KIND_DEPLOY && o.operation.state === OperationState.OPERATION_STATE_SUCCEEDED)
      .flatMap((o) => o.phases.filter((p) => p.phase === Phase.PHASE_SR).map((p) => p.durationMs));
    const drn = operations.filter((o) => o.operation?.kind === OperationKind.OPERATION_KIND_DRAIN).flatMap((o) => o.phases.filter((p) => p.phase === Phase.PHASE_DRN).map((p) => p.durationMs));
    expect(sr.length).to.be.at.least(POOL);
    console.log(`      SR (lease -> available in the VO queue) ms: ${sr.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`      DRN (drain: disable, last job, deregister) ms: ${drn.map((x) => x.toFixed(0)).join(' ')}`);
  });
});
