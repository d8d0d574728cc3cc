import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BatchHost } from '../../../../../coordinator/lrms/batch-system.js';
import { oneLinerFields, parseScontrolNodes, parseScontrolPartitions } from '../../../../../coordinator/lrms/slurm/scontrol-show.js';
import { availableIn, nodeState } from '../../../../../coordinator/lrms/slurm/slurm-json.js';

// `scontrol --future --oneliner show node` as Slurm 22.05.8 printed it in the testbed.
const fixture = (name: string): string => readFileSync(path.resolve(import.meta.dirname, '../../../../fixtures/slurm', name), 'utf8');

describe('coordinator/lrms/slurm/scontrol-show parseScontrolNodes', () => {
  type Case = [fixture: string, node: string, state: string, flags: string[], partitions: string[], vonode: BatchHost['state'], reason: string];
  const cases: Case[] = [
    ['scontrol-future.txt', 'fus-n2', 'future', ['DYNAMIC_NORM'], ['fusion'], 'unreachable', ''],
    ['scontrol-future.txt', 'bio-n4', 'future', ['DYNAMIC_NORM'], ['bio'], 'unreachable', ''],
    ['scontrol-future.txt', 'bio-n1', 'allocated', ['DRAIN', 'DYNAMIC_NORM'], ['bio'], 'disabled', 'vonode-drain [root@2026-11-25T15:51:56]'],
    ['scontrol-future.txt', 'bio-n2', 'allocated', ['DYNAMIC_NORM'], ['bio'], 'available', ''],
    ['scontrol-invalid-reg.txt', 'bio-n5', 'future', ['DRAIN', 'DYNAMIC_NORM', 'INVALID_REG'], ['bio'], 'unreachable', 'Low socket*core*thread count, Low CPUs [slurm@2026-11-25T15:53:19]'],
    ['scontrol-not-responding.txt', 'fus-n9', 'idle', ['DYNAMIC_NORM', 'NOT_RESPONDING'], ['fusion'], 'unreachable', ''],
    ['scontrol-down.txt', 'fus-n9', 'down', ['DYNAMIC_NORM', 'NOT_RESPONDING'], ['fusion'], 'unreachable', 'Not responding [slurm@2026-11-25T15:57:53]'],
  ];
  for (const [file, name, state, flags, partitions, vonode, reason] of cases) {
    it(`${file} ${name}: ${state}+${flags.join('+')} → ${vonode}`, () => {
      const node = parseScontrolNodes(fixture(file)).find((n) => n.name === name);
      expect(node).to.deep.equal({ name, state, flags, partitions, features: [partitions[0]], reason });
      expect(nodeState(node!)).to.equal(vonode);
    });
  }

  it('lists every node, FUTURE ones included', () => {
    expect(parseScontrolNodes(fixture('scontrol-future.txt')).map((n) => n.name)).to.deep.equal(['bio-n1', 'bio-n2', 'bio-n3', 'fus-n1', 'fus-n2', 'bio-n4']);
  });

  it('a FUTURE node is never available, even in its partition', () => {
    const node = parseScontrolNodes(fixture('scontrol-future.txt')).find((n) => n.name === 'bio-n4')!;
    expect(availableIn(node, 'bio')).to.equal(false);
  });

  it('skips "Node X not found" and blank lines; (null) features are none', () => {
    expect(parseScontrolNodes('Node nosuch not found\n\n')).to.deep.equal([]);
    const [node] = parseScontrolNodes('NodeName=x1 AvailableFeatures=(null) ActiveFeatures=(null) State=IDLE*+DYNAMIC_NORM\n');
    expect(node).to.deep.equal({ name: 'x1', state: 'idle', flags: ['DYNAMIC_NORM', 'NOT_RESPONDING'], partitions: [], features: [], reason: '' });
  });

  it('keeps values with spaces and "=" apart from the keys', () => {
    const fields = oneLinerFields(fixture('scontrol-down.txt').trim());
    expect(fields.get('OS')).to.equal('Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0');
    expect(fields.get('CfgTRES')).to.equal('cpu=1,mem=1M,billing=1');
    expect(fields.get('AllocTRES')).to.equal('');
    expect(fields.get('NodeAddr')).to.equal('10.124.0.11');
  });
});

describe('coordinator/lrms/slurm/scontrol-show parseScontrolPartitions', () => {
  it('reads name, state and NodeSets of each partition', () => {
    expect(parseScontrolPartitions(fixture('scontrol-partitions.txt'))).to.deep.equal([
      { name: 'bio', state: 'UP', nodeSets: ['ns_bio'] },
      { name: 'fusion', state: 'INACTIVE', nodeSets: [] },
      { name: 'atlas', state: 'DOWN', nodeSets: ['ns_bio'] },
    ]);
  });

  it('skips "Partition x not found"', () => {
    expect(parseScontrolPartitions('Partition nosuch not found\n')).to.deep.equal([]);
  });
});
