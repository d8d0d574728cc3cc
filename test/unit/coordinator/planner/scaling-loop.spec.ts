import { expect } from 'chai';
import { pino } from 'pino';
import { ScalingLoop } from '../../../../coordinator/planner/scaling-loop.js';
import type { BatchHost, QueueDemand } from '../../../../coordinator/lrms/batch-system.js';
import type { Policy } from '../../../../coordinator/policy/policy-schema.js';
import type { NodeRecord } from '../../../../coordinator/store/records.js';
import { silentLogger } from '../../../../shared/logger.js';
import { systemClock, type Clock } from '../../../../shared/clock.js';

const appliance = { disk: { url: 'file:///a', sha256: 'a'.repeat(64) } };
const policy: Policy = {
  cooldowns: { scaleUpMs: 0, scaleDownMs: 0 }, idleBeforeDrainMs: 0,
  vos: [
    { name: 'bio', weight: 2, min: 0, max: 10, queue: 'bio.q', slotsPerNode: 1, vm: { vcpus: 1, memoryMb: 512 }, appliance },
    { name: 'fusion', weight: 5, min: 0, max: 10, queue: 'fusion.q', slotsPerNode: 1, vm: { vcpus: 1, memoryMb: 512 }, appliance },
  ],
};
const node = (hostname: string, vo: string): NodeRecord => ({ hostname, ip: '10.0.0.1', mac: '52:54:00:00:00:01', vo, host: 'h', state: 'running', operationId: '', sinceMs: 0, error: '' });

/** A scripted batch system for the loop's unit tests (the real adapters are tested against real daemons). */
function scriptedBatch(demand: Record<string, [number, number]>, hosts: BatchHost[]) {
  return {
    demand: async (queues: readonly string[]) => new Map<string, QueueDemand>(queues.map((q) => [q, { queue: q, pending: demand[q]?.[0] ?? 0, running: demand[q]?.[1] ?? 0 }])),
    hosts: async () => hosts,
  };
}

describe('coordinator/planner/ScalingLoop', () => {
  const run = async (demand: Record<string, [number, number]>, nodes: NodeRecord[], hosts: BatchHost[], capacity = 7) => {
    const calls = { deploy: [] as Array<[string, number]>, drain: [] as string[], remove: [] as string[] };
    const loop = new ScalingLoop({
      policy: () => policy, batch: scriptedBatch(demand, hosts), nodes: () => nodes, capacity: () => capacity, poolFree: () => capacity - nodes.length,
      submitDeploy: (vo, n) => calls.deploy.push([vo, n]), submitDrain: (h) => calls.drain.push(h), submitRemove: (h) => calls.remove.push(h),
      clock: systemClock, logger: silentLogger(),
    });
    await loop.tick();
    return { calls, targets: loop.targets() };
  };

  it('splits the pool 2:5 between VOs that both have more jobs than nodes', async () => {
    const { calls, targets } = await run({ 'bio.q': [10, 0], 'fusion.q': [10, 0] }, [], []);
    expect(Object.fromEntries([...targets].map(([vo, t]) => [vo, t.target]))).to.deep.equal({ bio: 2, fusion: 5 });
    expect(calls.deploy).to.have.deep.members([['bio', 2], ['fusion', 5]]);
  });

  it('drains idle nodes when demand ends, and removes a node whose batch daemon vanished', async () => {
    const nodes = [node('a', 'bio'), node('b', 'bio')];
    const hosts: BatchHost[] = [{ hostname: 'a', queue: 'bio.q', state: 'available', runningJobs: 0 }, { hostname: 'b', queue: 'bio.q', state: 'unreachable', runningJobs: 1 }];
    const { calls } = await run({}, nodes, hosts);
    expect(calls.drain).to.deep.equal(['a']);
    expect(calls.remove).to.deep.equal(['b']);
  });

  it('holds back new deployments of a VO whose deployments fail, doubling, until one succeeds; drains go on', async () => {
    let t = 0;
    const clock: Clock = { monotonicMs: () => t, nowMs: () => t, sleep: async () => undefined };
    const logs: Array<{ level: number; msg: string; vo?: string; failures?: number; delayMs?: number; lastError?: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });
    const calls = { deploy: [] as Array<[string, number]>, drain: [] as string[] };
    // bio wants 7 nodes and has none; fusion has one idle node and no demand (drained every pass: the fake store never changes).
    const nodes = [node('f1', 'fusion')];
    const loop = new ScalingLoop({
      policy: () => policy, batch: scriptedBatch({ 'bio.q': [10, 0] }, [{ hostname: 'f1', queue: 'fusion.q', state: 'available', runningJobs: 0 }]),
      nodes: () => nodes, capacity: () => 8, poolFree: () => 7,
      submitDeploy: (vo, n) => calls.deploy.push([vo, n]), submitDrain: (h) => calls.drain.push(h), submitRemove: () => undefined,
      clock, logger,
    });
    const pass = async (at: number): Promise<{ deploy: Array<[string, number]>; drain: string[] }> => {
      t = at;
      calls.deploy = [];
      calls.drain = [];
      await loop.tick();
      return { ...calls };
    };
    const fail = (at: number, createdMs: number): void => {
      t = at;
      loop.onOperationFinished({ kind: 'deploy', state: 'failed', vo: 'bio', error: 'PT: GET http://repo/bio.qcow2: HTTP 404', createdMs });
    };
    const warnings = (): typeof logs => logs.filter((l) => l.level === 40);

    expect(await pass(0)).to.deep.equal({ deploy: [['bio', 7]], drain: ['f1'] });
    for (let i = 0; i < 7; i++) fail(200 + i, 0); // the whole batch fails: one hold of 5 s
    expect(warnings()).to.have.length(1);
    expect(warnings()[0]).to.deep.include({ vo: 'bio', failures: 1, delayMs: 5_000, lastError: 'PT: GET http://repo/bio.qcow2: HTTP 404' });
    expect(warnings()[0]!.msg).to.match(/no new ones for 5 s; check the VO's appliance in the policy \('vonode policy check'\) and the agent logs/);
    expect(await pass(1_000)).to.deep.equal({ deploy: [], drain: ['f1'] });
    expect(loop.deployHolds().get('bio')).to.include({ failures: 7, untilMs: 5_200 });
    expect(await pass(5_199)).to.deep.include({ deploy: [] });
    expect(await pass(5_200)).to.deep.include({ deploy: [['bio', 7]] });
    fail(5_400, 5_200); // the retried batch fails too: 10 s
    expect(warnings()).to.have.length(2);
    expect(warnings()[1]).to.deep.include({ failures: 8, delayMs: 10_000 });
    expect(await pass(15_399)).to.deep.include({ deploy: [] });
    expect(await pass(15_400)).to.deep.include({ deploy: [['bio', 7]] });
    // Any other kind or a retry in progress changes nothing; a success lifts the hold at once.
    fail(15_500, 15_400);
    loop.onOperationFinished({ kind: 'drain', state: 'failed', vo: 'bio', error: 'x', createdMs: 15_600 });
    loop.onOperationFinished({ kind: 'deploy', state: 'retrying', vo: 'bio', error: 'x', createdMs: 15_600 });
    expect(loop.deployHolds().get('bio')).to.include({ failures: 9, delayMs: 20_000 });
    loop.onOperationFinished({ kind: 'deploy', state: 'succeeded', vo: 'bio', error: '', createdMs: 15_400 });
    expect(loop.deployHolds().size).to.equal(0);
    expect(logs.filter((l) => l.level === 30 && /VO bio succeeded: deployments no longer held back/.test(l.msg))).to.have.length(1);
    expect(await pass(16_000)).to.deep.include({ deploy: [['bio', 7]] });
    expect(warnings()).to.have.length(3);
  });
});
