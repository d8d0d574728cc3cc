import { expect } from 'chai';
import fc from 'fast-check';
import { planScaling, type ScalingInput } from '../../../../coordinator/planner/scaling-plan.js';
import type { NodeRecord } from '../../../../coordinator/store/records.js';

const node = (hostname: string, vo: string, state: NodeRecord['state'] = 'running'): NodeRecord => ({
  hostname, ip: '10.0.0.1', mac: '52:54:00:00:00:01', vo, host: 'h', state, operationId: '', sinceMs: 0, error: '',
});
const input = (over: Partial<ScalingInput>): ScalingInput => ({
  targets: {}, nodes: [], runningJobs: new Map(), idleSinceMs: new Map(), nowMs: 100_000, idleBeforeDrainMs: 30_000, poolFree: 10, ...over,
});

describe('coordinator/planner/planScaling', () => {
  it('deploys each VO up to its target, largest deficit first, within the free pool', () => {
    expect(planScaling(input({ targets: { bio: 2, fusion: 5 }, poolFree: 7 }))).to.deep.equal({ deploy: [{ vo: 'fusion', count: 5 }, { vo: 'bio', count: 2 }], drain: [] });
    expect(planScaling(input({ targets: { bio: 2, fusion: 5 }, poolFree: 6 })).deploy).to.deep.equal([{ vo: 'fusion', count: 5 }, { vo: 'bio', count: 1 }]);
  });

  it('counts deploying nodes as active and never drains them', () => {
    const nodes = [node('a', 'bio', 'deploying'), node('b', 'bio', 'deploying')];
    expect(planScaling(input({ targets: { bio: 0 }, nodes }))).to.deep.equal({ deploy: [], drain: [] });
  });

  it('drains only nodes idle for idleBeforeDrain, the longest idle first', () => {
    const nodes = [node('a', 'bio'), node('b', 'bio'), node('c', 'bio')];
    const runningJobs = new Map([['a', 0], ['b', 0], ['c', 1]]);
    const idleSinceMs = new Map([['a', 90_000], ['b', 10_000]]);
    expect(planScaling(input({ targets: { bio: 0 }, nodes, runningJobs, idleSinceMs })).drain).to.deep.equal(['b']);
  });

  it('reclaims busy nodes (fewest jobs first) only for a VO that cannot grow otherwise', () => {
    const nodes = [node('a', 'bio'), node('b', 'bio')];
    const runningJobs = new Map([['a', 3], ['b', 1]]);
    expect(planScaling(input({ targets: { bio: 1, fusion: 1 }, nodes, runningJobs, poolFree: 0 })).drain).to.deep.equal(['b']);
    expect(planScaling(input({ targets: { bio: 1, fusion: 1 }, nodes, runningJobs, poolFree: 5 })).drain).to.deep.equal([]);
  });

  it('gives a held-back VO no triple and reclaims no busy node for it, but still drains its idle ones', () => {
    const deployHeld = new Set(['bio']);
    expect(planScaling(input({ targets: { bio: 3, fusion: 2 }, poolFree: 7, deployHeld })).deploy).to.deep.equal([{ vo: 'fusion', count: 2 }]);
    const busy = [node('f1', 'fusion'), node('f2', 'fusion')];
    const runningJobs = new Map([['f1', 1], ['f2', 2]]);
    expect(planScaling(input({ targets: { bio: 1, fusion: 1 }, nodes: busy, runningJobs, poolFree: 0 })).drain).to.deep.equal(['f1']);
    expect(planScaling(input({ targets: { bio: 1, fusion: 1 }, nodes: busy, runningJobs, poolFree: 0, deployHeld })).drain).to.deep.equal([]);
    const idle = [node('b1', 'bio'), node('b2', 'bio')];
    const idleSinceMs = new Map([['b1', 0], ['b2', 0]]);
    expect(planScaling(input({ targets: { bio: 1 }, nodes: idle, runningJobs: new Map([['b1', 0], ['b2', 0]]), idleSinceMs, deployHeld })).drain).to.have.length(1);
  });

  it('treats a node the batch system does not list as busy (it may be registering)', () => {
    expect(planScaling(input({ targets: { bio: 0 }, nodes: [node('a', 'bio')] })).drain).to.deep.equal([]);
  });

  it('never deploys beyond the free pool, never drains more than the excess or a deploying node', () => {
    const vos = ['bio', 'fusion', 'chem'];
    fc.assert(fc.property(
      fc.record({ t: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 3, maxLength: 3 }), free: fc.integer({ min: 0, max: 8 }),
        ns: fc.array(fc.record({ vo: fc.constantFrom(...vos), state: fc.constantFrom('deploying', 'running', 'draining'), jobs: fc.option(fc.integer({ min: 0, max: 3 })) }), { maxLength: 12 }) }),
      ({ t, free, ns }) => {
        const nodes = ns.map((n, i) => node(`n${i}`, n.vo, n.state as NodeRecord['state']));
        const runningJobs = new Map(ns.flatMap((n, i) => (n.jobs === null ? [] : [[`n${i}`, n.jobs] as [string, number]])));
        const idleSinceMs = new Map(nodes.map((n) => [n.hostname, 0]));
        const targets = Object.fromEntries(vos.map((v, i) => [v, t[i]!]));
        const plan = planScaling(input({ targets, nodes, runningJobs, idleSinceMs, poolFree: free }));
        expect(plan.deploy.reduce((s, d) => s + d.count, 0)).to.be.at.most(free);
        for (const h of plan.drain) expect(nodes.find((n) => n.hostname === h)!.state).to.equal('running');
        for (const v of vos) {
          const active = nodes.filter((n) => n.vo === v && n.state !== 'draining').length;
          const drained = plan.drain.filter((h) => nodes.find((n) => n.hostname === h)!.vo === v).length;
          expect(drained).to.be.at.most(Math.max(0, active - targets[v]!));
        }
        expect(new Set(plan.drain).size).to.equal(plan.drain.length);
      },
    ), { numRuns: 300 });
  });
});
