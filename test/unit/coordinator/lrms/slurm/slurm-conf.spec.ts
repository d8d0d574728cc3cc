import { expect } from 'chai';
import { nodeSetName, slurmConfForVos, validatePartitionName } from '../../../../../coordinator/lrms/slurm/slurm-conf.js';
import { InvalidArgumentError } from '../../../../../shared/errors.js';

describe('coordinator/lrms/slurm/slurm-conf', () => {
  it('writes a NodeSet by feature and a partition over it per VO (the testbed default)', () => {
    expect(slurmConfForVos(['bio', 'fusion'])).to.equal(
      [
        '# VO partitions: a dynamic node joins the partition of its Feature',
        'NodeSet=ns_bio Feature=bio',
        'PartitionName=bio Nodes=ns_bio MaxTime=INFINITE State=UP',
        'NodeSet=ns_fusion Feature=fusion',
        'PartitionName=fusion Nodes=ns_fusion MaxTime=INFINITE State=UP',
        '',
      ].join('\n'),
    );
  });

  it('lets a VO join a partition of another name', () => {
    expect(slurmConfForVos([{ vo: 'bio', partition: 'biomed' }])).to.contain('NodeSet=ns_bio Feature=bio\nPartitionName=biomed Nodes=ns_bio ');
    expect(nodeSetName('fusion')).to.equal('ns_fusion');
  });

  const bad: [string, Parameters<typeof slurmConfForVos>[0], RegExp][] = [
    ['a VO name with a space', ['bio x'], /vos\[0\]\.vo/],
    ['a partition name with "="', [{ vo: 'bio', partition: 'a=b' }], /vos\[0\]\.partition/],
    ['a VO listed twice', ['bio', 'bio'], /vos\[1\]\.vo: "bio" is listed twice/],
    ['a partition used twice', [{ vo: 'a', partition: 'p' }, { vo: 'b', partition: 'p' }], /vos\[1\]\.partition/],
  ];
  for (const [what, vos, message] of bad) {
    it(`refuses ${what}`, () => {
      expect(() => slurmConfForVos(vos)).to.throw(InvalidArgumentError, message);
    });
  }

  const names: [string, boolean][] = [
    ['bio', true],
    ['fusion_2', true],
    ['a-b', true],
    ['Bio', false],
    ['1bio', false],
    ['bio,fusion', false],
    ['bio fusion', false],
    ['x'.repeat(33), false],
    ['', false],
  ];
  for (const [name, ok] of names) {
    it(`validatePartitionName("${name}") ${ok ? 'accepts' : 'refuses'}`, () => {
      if (ok) expect(validatePartitionName('queue', name)).to.equal(name);
      else expect(() => validatePartitionName('queue', name)).to.throw(InvalidArgumentError, /invalid queue/);
    });
  }
});
