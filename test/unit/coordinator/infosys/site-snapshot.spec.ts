import { expect } from 'chai';
import { stringify } from 'yaml';
import { buildSiteSnapshot } from '../../../../coordinator/infosys/site-snapshot.js';
import { FailedPreconditionError } from '../../../../shared/errors.js';
import { NodeState, type Node, type StatusResponse } from '../../../../shared/gen/vonode/v1/coordinator.js';

const appliance = { disk: { url: 'http://repo.example.org/a.img', sha256: 'a'.repeat(64) } };
const policyYaml = stringify({
  vos: {
    fusion: { weight: 5, max: 10, queue: 'fusion.q', vm: { vcpus: 2, memory: '1GiB' }, appliance },
    bio: { weight: 2, max: 50, queue: 'bio.q', slotsPerNode: 2, appliance },
  },
});
const status: StatusResponse = {
  site: 'test-site', hostsUp: 2, hostsDown: 0, poolTotal: 10, poolFree: 5, queuedOperations: 0, runningOperations: 0,
  policy: undefined, vos: [], startedUnixMs: 0, transfers: [], cluster: undefined,
};
let serial = 0;
const node = (vo: string, state: NodeState): Node => ({
  hostname: `vwn-${++serial}`, ip: '10.0.0.1', mac: '52:54:00:00:00:01', vo, host: 'phys-a', state, operationId: '', sinceUnixMs: 0, error: '',
});

describe('site snapshot from the coordinator answers', () => {
  const nodes = [
    node('bio', NodeState.NODE_STATE_RUNNING), node('bio', NodeState.NODE_STATE_RUNNING), node('bio', NodeState.NODE_STATE_DEPLOYING),
    node('bio', NodeState.NODE_STATE_DRAINING), node('bio', NodeState.NODE_STATE_REMOVING), node('bio', NodeState.NODE_STATE_FAILED),
    node('fusion', NodeState.NODE_STATE_DEPLOYING), node('chemistry', NodeState.NODE_STATE_RUNNING),
  ];
  const src = { status, nodes: { nodes }, policy: { yaml: policyYaml, status: undefined } };

  it('counts nodes per VO and state, takes queue, weight, slots and VM size from the policy, sorts VOs by name', () => {
    expect(buildSiteSnapshot(src)).to.deep.equal({
      site: 'test-site',
      vos: [
        {
          vo: 'bio', queue: 'bio.q', weight: 2, nodes: { running: 2, deploying: 1, draining: 2 }, slotsPerNode: 2, vm: { vcpus: 1, memoryMb: 512 },
          slots: { total: 8, free: 4, max: 100 }, jobs: { total: 0, running: 0, waiting: 0 },
        },
        {
          vo: 'fusion', queue: 'fusion.q', weight: 5, nodes: { running: 0, deploying: 1, draining: 0 }, slotsPerNode: 1, vm: { vcpus: 2, memoryMb: 1024 },
          slots: { total: 0, free: 0, max: 10 }, jobs: { total: 0, running: 0, waiting: 0 },
        },
      ],
    });
  });

  const cases: Array<[string, { pending: number; running: number } | undefined, { free: number; jobs: [number, number, number] }]> = [
    ['no batch data: jobs 0, every running slot free', undefined, { free: 4, jobs: [0, 0, 0] }],
    ['some jobs running', { pending: 3, running: 1 }, { free: 4, jobs: [4, 1, 3] }],
    ['jobs beyond the draining slots eat running slots', { pending: 0, running: 6 }, { free: 2, jobs: [6, 6, 0] }],
    ['full', { pending: 9, running: 8 }, { free: 0, jobs: [17, 8, 9] }],
    ['more running than slots (stale counts) never gives negative free slots', { pending: 0, running: 20 }, { free: 0, jobs: [20, 20, 0] }],
    ['garbage counts are 0', { pending: -1, running: Number.NaN }, { free: 4, jobs: [0, 0, 0] }],
  ];
  for (const [what, q, want] of cases) {
    it(`derives free slots and jobs: ${what}`, () => {
      const jobs = new Map(q ? [['bio.q', q]] : []);
      const bio = buildSiteSnapshot({ ...src, jobs }).vos[0]!;
      expect(bio.slots.free).to.equal(want.free);
      expect([bio.jobs.total, bio.jobs.running, bio.jobs.waiting]).to.deep.equal(want.jobs);
    });
  }

  it('refuses a policy text that does not check, naming the problem', () => {
    expect(() => buildSiteSnapshot({ ...src, policy: { yaml: 'vos: {}', status: undefined } })).to.throw(FailedPreconditionError, /policy in force.*vos/);
  });
});
