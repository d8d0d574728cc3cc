import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BatchHost, QueueDemand } from '../../../../../coordinator/lrms/batch-system.js';
import {
  availableIn,
  countArrayTasks,
  demandPerPartition,
  expandHostlist,
  isDynamicNode,
  jobsOnNode,
  nodeState,
  parseSinfoNodes,
  parseSqueueJobs,
  SlurmOutputError,
} from '../../../../../coordinator/lrms/slurm/slurm-json.js';

// Every fixture was printed by Slurm 22.05.8 (Debian slurm-wlm) in the testbed
// (scripts/testbed/slurm.sh): real slurmctld, real `slurmd -Z` nodes.
const fixture = (name: string): string => readFileSync(path.resolve(import.meta.dirname, '../../../../fixtures/slurm', name), 'utf8');
const d = (queue: string, pending: number, running: number): QueueDemand => ({ queue, pending, running });

describe('coordinator/lrms/slurm/slurm-json parseSqueueJobs + demandPerPartition', () => {
  type Case = [fixture: string, what: string, expected: QueueDemand[]];
  const cases: Case[] = [
    ['squeue-empty-partition.json', 'a job waiting in a partition with no node; a rejected (FAILED) job is not demand', [d('bio', 1, 0), d('fusion', 0, 0)]],
    ['squeue-running.json', 'single, 2-node and array-task jobs running; one waiting in each partition', [d('bio', 1, 4), d('fusion', 1, 1)]],
    ['squeue-array-pending.json', 'a pending array record "1-4" counts 4 tasks', [d('bio', 1, 4), d('fusion', 5, 1)]],
    ['squeue-held.json', 'held (JobHeldUser) and Dependency jobs are not demand; ended jobs are ignored', [d('bio', 1, 0), d('fusion', 0, 0)]],
    ['squeue-completing.json', 'a COMPLETING job still holds its node', [d('bio', 0, 1), d('fusion', 0, 0)]],
  ];
  for (const [file, what, expected] of cases) {
    it(`${file}: ${what}`, () => {
      const demand = demandPerPartition(parseSqueueJobs(fixture(file)), ['bio', 'fusion', 'other']);
      expect([...demand.values()]).to.deep.equal([...expected, d('other', 0, 0)]);
    });
  }

  it('reads id, state, partition, allocated nodes and pending reason', () => {
    const jobs = parseSqueueJobs(fixture('squeue-running.json'));
    expect(jobs.find((j) => j.id === 4)).to.deep.equal({ id: 4, state: 'RUNNING', partitions: ['bio'], nodes: ['bio-n2', 'bio-n3'], reason: 'None', tasks: 1 });
    expect(jobs.find((j) => j.id === 6)).to.deep.equal({ id: 6, state: 'PENDING', partitions: ['fusion'], nodes: [], reason: 'Resources', tasks: 1 });
    expect(parseSqueueJobs(fixture('squeue-empty-partition.json'))[0]).to.include({ state: 'PENDING', reason: 'PartitionConfig' });
  });

  it('counts a pending job that names several partitions in each', () => {
    const jobs = [{ id: 1, state: 'PENDING', partitions: ['bio', 'fusion'], nodes: [], reason: 'Resources', tasks: 2 }];
    expect([...demandPerPartition(jobs, ['bio', 'fusion']).values()]).to.deep.equal([d('bio', 2, 0), d('fusion', 2, 0)]);
  });

  type OnNode = [fixture: string, node: string, jobIds: number[]];
  const onNode: OnNode[] = [
    ['squeue-running.json', 'bio-n1', [3]],
    ['squeue-running.json', 'bio-n2', [4, 8]],
    ['squeue-running.json', 'bio-n3', [4, 9]],
    ['squeue-running.json', 'fus-n2', []],
    ['squeue-completing.json', 'bio-n3', [17]],
    ['squeue-held.json', 'bio-n1', []],
  ];
  for (const [file, node, ids] of onNode) {
    it(`jobsOnNode ${file} ${node} → [${ids.join(',')}]`, () => {
      expect(jobsOnNode(parseSqueueJobs(fixture(file)), node).map((j) => j.id)).to.deep.equal(ids);
    });
  }

  const broken: [string, string, RegExp][] = [
    ['slurmctld down (squeue exits 0 with errors)', fixture('squeue-controller-down.json'), /squeue --json reported: Failed while looking for jobs: Unspecified error/],
    ['not JSON', 'squeue: error: …', /printed no JSON/],
    ['no jobs array', '{"meta":{}}', /unexpected JSON at jobs/],
  ];
  for (const [what, text, message] of broken) {
    it(`throws SlurmOutputError: ${what}`, () => {
      expect(() => parseSqueueJobs(text)).to.throw(SlurmOutputError, message);
    });
  }
});

describe('coordinator/lrms/slurm/slurm-json parseSinfoNodes + nodeState', () => {
  type Case = [fixture: string, node: string, state: string, flags: string[], vonode: BatchHost['state'], inBio: boolean];
  const cases: Case[] = [
    ['sinfo-idle.json', 'bio-n1', 'idle', ['DYNAMIC_NORM'], 'available', true],
    ['sinfo-allocated.json', 'bio-n2', 'allocated', ['DYNAMIC_NORM'], 'available', true],
    ['sinfo-allocated.json', 'fus-n1', 'allocated', ['DYNAMIC_NORM'], 'available', false],
    ['sinfo-drained-mixed-down.json', 'bio-n2', 'mixed', ['DYNAMIC_NORM'], 'available', true],
    ['sinfo-draining.json', 'bio-n1', 'allocated', ['DRAIN', 'DYNAMIC_NORM'], 'disabled', false],
    ['sinfo-drained-mixed-down.json', 'bio-n1', 'idle', ['DRAIN', 'DYNAMIC_NORM'], 'disabled', false],
    ['sinfo-completing.json', 'bio-n3', 'idle', ['COMPLETING', 'DYNAMIC_NORM'], 'available', true],
    ['sinfo-not-responding.json', 'fus-n2', 'idle', ['DYNAMIC_NORM', 'NOT_RESPONDING'], 'unreachable', false],
    ['sinfo-drained-mixed-down.json', 'fus-n2', 'down', ['DYNAMIC_NORM', 'NOT_RESPONDING'], 'unreachable', false],
  ];
  for (const [file, name, state, flags, vonode, inBio] of cases) {
    it(`${file} ${name}: ${state}+${flags.join('+')} → ${vonode}${inBio ? ', available in bio' : ''}`, () => {
      const node = parseSinfoNodes(fixture(file)).find((n) => n.name === name);
      expect(node).to.include({ state });
      expect(node!.flags).to.deep.equal(flags);
      expect(nodeState(node!)).to.equal(vonode);
      expect(availableIn(node!, 'bio')).to.equal(inBio);
      expect(isDynamicNode(node!)).to.equal(true);
    });
  }

  it('reads partitions, active features and reason', () => {
    const nodes = parseSinfoNodes(fixture('sinfo-drained-mixed-down.json'));
    expect(nodes.map((n) => n.name)).to.deep.equal(['bio-n1', 'bio-n2', 'bio-n3', 'fus-n1', 'fus-n2']);
    expect(nodes[0]).to.deep.include({ partitions: ['bio'], features: ['bio'], reason: 'vonode-drain' });
    expect(nodes[4]).to.deep.include({ partitions: ['fusion'], features: ['fusion'], reason: 'Not responding' });
  });

  it('throws SlurmOutputError when sinfo reports errors (slurmctld down, exit 0)', () => {
    expect(() => parseSinfoNodes(fixture('sinfo-controller-down.json'))).to.throw(SlurmOutputError, /sinfo --json reported: Unspecified error/);
  });

  it('a node from slurm.conf (no DYNAMIC flag) is not dynamic', () => {
    expect(isDynamicNode({ name: 'static', state: 'idle', flags: [], partitions: [], features: [], reason: '' })).to.equal(false);
  });
});

describe('coordinator/lrms/slurm/slurm-json countArrayTasks / expandHostlist', () => {
  const tasks: [string, number][] = [
    ['1-4', 4],
    ['3', 1],
    ['1,3,5-7', 5],
    ['0-15:4', 4],
    ['1-10%2', 10],
    ['2-3,7%1', 3],
    ['', 0],
  ];
  for (const [ranges, n] of tasks) {
    it(`countArrayTasks("${ranges}") = ${n}`, () => expect(countArrayTasks(ranges)).to.equal(n));
  }

  const lists: [string, string[]][] = [
    ['bio-n1', ['bio-n1']],
    ['bio-n[2-3]', ['bio-n2', 'bio-n3']],
    ['bio-n[1-3,5],fus-n1', ['bio-n1', 'bio-n2', 'bio-n3', 'bio-n5', 'fus-n1']],
    ['n[08-10]', ['n08', 'n09', 'n10']],
    ['a[1-2]-x,b', ['a1-x', 'a2-x', 'b']],
    ['', []],
  ];
  for (const [list, names] of lists) {
    it(`expandHostlist("${list}")`, () => expect(expandHostlist(list)).to.deep.equal(names));
  }
});
