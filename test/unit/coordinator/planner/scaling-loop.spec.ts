import { expect } from 'chai';
import { ScalingLoop } from '../../../../coordinator/planner/scaling-loop.js';
import type { BatchHost, QueueDemand } from '../../../../coordinator/lrms/batch-system.js';
import type { Policy } from '../../../../coordinator/policy/policy-schema.js';
import type { NodeRecord } from '../../../../coordinator/store/records.js';
import { silentLogger } from '../../../../shared/logger.js';
import { systemClock } from '../../../../shared/clock.js';

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
});
