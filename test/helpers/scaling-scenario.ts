import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import { Phase } from '../../shared/gen/vonode/v1/common.js';
import { NodeState, OperationKind, OperationState, type CoordinatorEvent } from '../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { TestSite } from './site-harness.js';
import { until } from './wait.js';

/** A real batch system run by one of the project's testbed scripts, as the scaling scenario needs it. */
export interface ClusterUnderTest {
  /** Shown in the describe title, e.g. "SGE (qmaster, execds)". */
  label: string;
  /** The VO queues (SGE queues or Slurm partitions). */
  queues: { bio: string; fusion: string };
  /** Starts the batch system with the pool's hosts; returns the coordinator's batchSystem section, the guests' boot/halt commands and, if the cluster fixes them, the pool's addresses. */
  setUp(poolNames: readonly string[]): Promise<{
    batchSystem: Record<string, unknown>;
    guest: { guestCommand: string[]; haltCommand: string[] };
    poolAddresses?: Array<{ hostname: string; ip: string }>;
  }>;
  /** Submits a held job to a queue that prints `host=… queue=…`, sleeps, then prints `end ok`; returns its id. */
  submitHeld(queue: string, seconds: number): Promise<string>;
  /** Releases held jobs together. */
  release(ids: readonly string[]): Promise<void>;
  jobOutput(id: string): Promise<string>;
  /** vonode nodes the batch system still knows. */
  knownNodes(): Promise<string[]>;
  tearDown(): Promise<void>;
}

const POOL = 7;

/**
 * Demand-driven scaling against a REAL batch system: jobs wait in the bio and
 * fusion queues, the coordinator deploys nodes in the policy's 2:5 ratio,
 * each node's batch daemon (started in a namespace named after it when its
 * simulated guest boots: the agents use the SIMULATED hypervisor here; real
 * VMs run in the testbed's e2e test) joins, the jobs run on the nodes, demand
 * ends, the nodes drain and go, and no job is killed.
 */
export function describeScalingScenario(cluster: ClusterUnderTest): void {
  describe(`demand-driven scaling with a real ${cluster.label}`, function () {
    this.timeout(300_000);
    let site: TestSite;
    let client: CoordinatorClient;
    const events: CoordinatorEvent[] = [];
    const watch = new AbortController();

    before(async function () {
      if (process.getuid?.() !== 0) this.skip();
      const names = Array.from({ length: POOL }, (_, i) => `vwn-${String(i + 1).padStart(3, '0')}`);
      const { batchSystem, guest, poolAddresses } = await cluster.setUp(names);
      const { bio, fusion } = cluster.queues;
      site = new TestSite({
        agents: [{ name: 'phys-a', simulated: guest }, { name: 'phys-b', simulated: guest }],
        poolSize: POOL,
        ...(poolAddresses ? { poolAddresses } : {}),
        coordinator: { batchSystem: { scalingInterval: '1s', ...batchSystem } },
        policy: (appliance) => ({
          cooldowns: { scaleUp: '1s', scaleDown: '2s' }, idleBeforeDrain: '2s',
          vos: {
            bio: { weight: 2, min: 0, max: POOL, queue: bio, vm: { vcpus: 1, memory: '64MiB' }, appliance },
            fusion: { weight: 5, min: 0, max: POOL, queue: fusion, vm: { vcpus: 1, memory: '64MiB' }, appliance },
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
      // The coordinator's own words are the fastest way to see why a scaling run stalled.
      if (this.currentTest?.state === 'failed') console.log(site.recentLogs(2000).split('\n').filter((l) => l.startsWith('[coordinator]')).slice(-80).join('\n'));
    });
    after(async () => {
      watch.abort();
      client?.close();
      await site?.stop();
      await cluster.tearDown().catch(() => undefined);
    });

    it('deploys nodes in the 2:5 ratio for waiting jobs, runs the jobs on them, then drains and removes them without killing a job', async () => {
      const jobs: Array<{ id: string; queue: string }> = [];
      // Held until all are in: the coordinator must see both VOs' demand at once, not bio's first.
      for (const queue of [cluster.queues.bio, cluster.queues.fusion]) {
        for (let i = 0; i < 7; i++) jobs.push({ id: await cluster.submitHeld(queue, 4), queue });
      }
      await cluster.release(jobs.map((j) => j.id));
      // Capacity is the pool (7): the fair shares of 2:5 with both VOs short of nodes.
      const peak = await until('the pool full of running nodes', async () => {
        const { nodes } = await client.listNodes();
        return nodes.filter((n) => n.state === NodeState.NODE_STATE_RUNNING).length === POOL ? nodes : undefined;
      }, 120_000, 200);
      const count = (vo: string): number => peak.filter((n) => n.vo === vo).length;
      expect(count('bio'), 'bio nodes').to.be.within(1, 3);
      expect(count('fusion'), 'fusion nodes').to.be.within(4, 6);

      // Every job runs to its end; then demand is 0 and every node drains and goes.
      await until('all nodes gone', async () => ((await client.listNodes()).nodes.length === 0 ? true : undefined), 120_000, 200);
      await expectJobsRanOnTheirVo(cluster, jobs, events);
      expect(await cluster.knownNodes(), 'the batch system knows no node any more').to.deep.equal([]);
      expect((await client.status()).poolFree).to.equal(POOL);
      for (const a of site.agents) expect(await readdir(a.hostsDir).then((f) => f.filter((x) => !x.startsWith('.')))).to.deep.equal([]);
      await printGridPhases(client);
    });
  });
}

async function expectJobsRanOnTheirVo(cluster: ClusterUnderTest, jobs: ReadonlyArray<{ id: string; queue: string }>, events: readonly CoordinatorEvent[]): Promise<void> {
  const queueOf: Record<string, string> = { bio: cluster.queues.bio, fusion: cluster.queues.fusion };
  // A pool triple may serve bio, then fusion: keep every VO a hostname served.
  const queuesOfNode = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.event?.$case !== 'node') continue;
    const { hostname, vo } = e.event.value;
    queuesOfNode.set(hostname, new Set([...(queuesOfNode.get(hostname) ?? []), queueOf[vo] ?? vo]));
  }
  for (const j of jobs) {
    const out = await cluster.jobOutput(j.id);
    expect(out, `job ${j.id} finished (not killed)`).to.match(/end ok/);
    const host = /host=(\S+)/.exec(out)?.[1] ?? '';
    expect(host, `job ${j.id} ran on a vonode node`).to.match(/^vwn-\d{3}$/);
    expect(/queue=(\S+)/.exec(out)?.[1], `job ${j.id} ran in its own queue`).to.equal(j.queue);
    expect([...(queuesOfNode.get(host) ?? [])], `job ${j.id} ran on a node of its own VO`).to.include(j.queue);
  }
}

/** Figures: SR per deployment, DRN per drain (coordinator clock). */
async function printGridPhases(client: CoordinatorClient): Promise<void> {
  const { operations } = await client.timings(0);
  const phase = (kind: OperationKind, p: Phase): number[] =>
    operations.filter((o) => o.operation?.kind === kind && o.operation.state === OperationState.OPERATION_STATE_SUCCEEDED)
      .flatMap((o) => o.phases.filter((x) => x.phase === p).map((x) => x.durationMs));
  const sr = phase(OperationKind.OPERATION_KIND_DEPLOY, Phase.PHASE_SR);
  expect(sr.length).to.be.at.least(POOL);
  console.log(`      SR (lease -> available in the VO queue) ms: ${sr.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`      DRN (drain: disable, last job, deregister) ms: ${phase(OperationKind.OPERATION_KIND_DRAIN, Phase.PHASE_DRN).map((x) => x.toFixed(0)).join(' ')}`);
}
