import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { fairShareTargets } from '../../../../coordinator/planner/fair-share.js';
import { policySchema, policyToClaims, type Policy } from '../../../../coordinator/policy/policy-schema.js';

const SHA = 'cbe243cb5c0622dcd70019ec97d87c71d2000eaf44f6ecab2d1c51963aaeca1b';

/** A minimal valid VO, with overrides merged in. */
function vo(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { max: 4, queue: 'bio.q', appliance: { disk: { url: 'http://10.0.0.1/bio.qcow2', sha256: SHA } }, ...overrides };
}

function paths(input: unknown): string[] {
  const r = policySchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
}

describe('coordinator/policy/policySchema', () => {
  it('applies the documented defaults and converts units', () => {
    const p = policySchema.parse({ vos: { bio: vo() } });
    expect(p.cooldowns).to.deep.equal({ scaleUpMs: 10_000, scaleDownMs: 60_000 });
    expect(p.idleBeforeDrainMs).to.equal(30_000);
    expect(p.vos).to.deep.equal([{
      name: 'bio', weight: 1, min: 0, max: 4, queue: 'bio.q', slotsPerNode: 1,
      vm: { vcpus: 1, memoryMb: 512 },
      appliance: { disk: { url: 'http://10.0.0.1/bio.qcow2', sha256: SHA } },
    }]);
  });

  it('converts durations to ms, memory to MiB and disk size to bytes; keeps file order of VOs', () => {
    const p = policySchema.parse({
      cooldowns: { scaleUp: '2s', scaleDown: '5m' },
      idleBeforeDrain: '1m',
      vos: {
        zeta: vo({ queue: 'z', vm: { vcpus: 4, memory: '2GiB' } }),
        alpha: vo({ queue: 'a', appliance: { disk: { url: 'file:///srv/a.qcow2', sha256: SHA.toUpperCase(), size: '300MiB' } } }),
      },
    });
    expect(p.cooldowns).to.deep.equal({ scaleUpMs: 2000, scaleDownMs: 300_000 });
    expect(p.idleBeforeDrainMs).to.equal(60_000);
    expect(p.vos.map((v) => v.name)).to.deep.equal(['zeta', 'alpha']);
    expect(p.vos[0]!.vm).to.deep.equal({ vcpus: 4, memoryMb: 2048 });
    expect(p.vos[1]!.appliance.disk).to.deep.equal({ url: 'file:///srv/a.qcow2', sha256: SHA, sizeBytes: 300 * 1024 ** 2 });
  });

  it('accepts a direct kernel boot with initrd and cmdline', () => {
    const ref = { url: 'https://img.example/k', sha256: SHA };
    const p = policySchema.parse({ vos: { bio: vo({ appliance: { disk: ref, kernel: ref, initrd: ref, cmdline: 'console=ttyS0 ro' } }) } });
    expect(p.vos[0]!.appliance.cmdline).to.equal('console=ttyS0 ro');
  });

  const refused: Array<[string, unknown, string]> = [
    ['no VOs', { vos: {} }, 'vos'],
    ['missing vos', {}, 'vos'],
    ['unknown top-level key', { vos: { bio: vo() }, cooldown: {} }, ''],
    ['bad VO name (uppercase)', { vos: { Bio: vo() } }, 'vos.Bio'],
    ['bad VO name (underscore)', { vos: { bio_x: vo() } }, 'vos.bio_x'],
    ['bad VO name (too long)', { vos: { ['a'.repeat(32)]: vo() } }, `vos.${'a'.repeat(32)}`],
    ['weight 0', { vos: { bio: vo({ weight: 0 }) } }, 'vos.bio.weight'],
    ['negative min', { vos: { bio: vo({ min: -1 }) } }, 'vos.bio.min'],
    ['fractional max', { vos: { bio: vo({ max: 1.5 }) } }, 'vos.bio.max'],
    ['max below min', { vos: { bio: vo({ min: 5, max: 2 }) } }, 'vos.bio.max'],
    ['missing queue', { vos: { bio: vo({ queue: undefined }) } }, 'vos.bio.queue'],
    ['bad queue name', { vos: { bio: vo({ queue: 'bio q' }) } }, 'vos.bio.queue'],
    ['duplicate queue', { vos: { bio: vo(), fus: vo() } }, 'vos.fus.queue'],
    ['slotsPerNode 0', { vos: { bio: vo({ slotsPerNode: 0 }) } }, 'vos.bio.slotsPerNode'],
    ['vcpus 0', { vos: { bio: vo({ vm: { vcpus: 0 } }) } }, 'vos.bio.vm.vcpus'],
    ['memory not whole MiB', { vos: { bio: vo({ vm: { memory: '100MB' } }) } }, 'vos.bio.vm.memory'],
    ['memory below 64MiB', { vos: { bio: vo({ vm: { memory: '32MiB' } }) } }, 'vos.bio.vm.memory'],
    ['bad duration', { vos: { bio: vo() }, cooldowns: { scaleUp: 'soon' } }, 'cooldowns.scaleUp'],
    ['ftp url', { vos: { bio: vo({ appliance: { disk: { url: 'ftp://h/x', sha256: SHA } } }) } }, 'vos.bio.appliance.disk.url'],
    ['file url with host', { vos: { bio: vo({ appliance: { disk: { url: 'file://h/x', sha256: SHA } } }) } }, 'vos.bio.appliance.disk.url'],
    ['short sha256', { vos: { bio: vo({ appliance: { disk: { url: 'http://h/x', sha256: 'abc' } } }) } }, 'vos.bio.appliance.disk.sha256'],
    ['initrd without kernel', { vos: { bio: vo({ appliance: { disk: { url: 'http://h/x', sha256: SHA }, initrd: { url: 'http://h/i', sha256: SHA } } }) } }, 'vos.bio.appliance.initrd'],
    ['cmdline without kernel', { vos: { bio: vo({ appliance: { disk: { url: 'http://h/x', sha256: SHA }, cmdline: 'ro' } }) } }, 'vos.bio.appliance.cmdline'],
    ['cmdline with a quote', { vos: { bio: vo({ appliance: { disk: { url: 'http://h/x', sha256: SHA }, kernel: { url: 'http://h/k', sha256: SHA }, cmdline: 'a"b' } }) } }, 'vos.bio.appliance.cmdline'],
    ['memory above 4TiB', { vos: { bio: vo({ vm: { memory: '99999999TiB' } }) } }, 'vos.bio.vm.memory'],
    ['vcpus 257', { vos: { bio: vo({ vm: { vcpus: 257 } }) } }, 'vos.bio.vm.vcpus'],
    ['weight Infinity', { vos: { bio: vo({ weight: Infinity }) } }, 'vos.bio.weight'],
    ['weight NaN', { vos: { bio: vo({ weight: NaN }) } }, 'vos.bio.weight'],
    ['weight above 1e6', { vos: { bio: vo({ weight: 1e6 + 1 }) } }, 'vos.bio.weight'],
    ['max above 100000', { vos: { bio: vo({ max: 100_001 }) } }, 'vos.bio.max'],
    ['min beyond 2^53', { vos: { bio: vo({ min: 2 ** 60, max: 2 ** 60 }) } }, 'vos.bio.min'],
    ['slotsPerNode above 100000', { vos: { bio: vo({ slotsPerNode: 100_001 }) } }, 'vos.bio.slotsPerNode'],
    ['scaleDown above 7 days', { vos: { bio: vo() }, cooldowns: { scaleDown: '169h' } }, 'cooldowns.scaleDown'],
    ['idleBeforeDrain Infinity', { vos: { bio: vo() }, idleBeforeDrain: Infinity }, 'idleBeforeDrain'],
    ['disk size beyond 16TiB', { vos: { bio: vo({ appliance: { disk: { url: 'http://h/x', sha256: SHA, size: '17TiB' } } }) } }, 'vos.bio.appliance.disk.size'],
    ['size on kernel', { vos: { bio: vo({ appliance: { disk: { url: 'http://h/x', sha256: SHA }, kernel: { url: 'http://h/k', sha256: SHA, size: 1 } } }) } }, 'vos.bio.appliance.kernel'],
  ];
  for (const [what, input, path] of refused) {
    it(`refuses ${what} at ${path || '(top level)'}`, () => {
      expect(paths(input)).to.include(path);
    });
  }

  it('parses docs/policy.example.yaml', async () => {
    const text = await readFile(new URL('../../../../docs/policy.example.yaml', import.meta.url), 'utf8');
    const p: Policy = policySchema.parse(parse(text));
    expect(p.vos.map((v) => [v.name, v.weight, v.queue])).to.deep.equal([['bio', 2, 'bio.q'], ['fusion', 5, 'fusion.q']]);
    expect(p.vos[0]!.appliance.kernel).to.not.equal(undefined);
  });
});

describe('coordinator/policy/policyToClaims', () => {
  const policy = policySchema.parse({
    vos: { bio: vo({ weight: 2, min: 1, max: 10 }), fusion: vo({ queue: 'f.q', weight: 5, max: 20, slotsPerNode: 4 }) },
  });

  const cases: Array<[string, Record<string, number>, number[]]> = [
    ['jobs to nodes, rounding up by slotsPerNode', { bio: 3, fusion: 9 }, [3, 3]],
    ['a VO missing from demand has none', { bio: 2 }, [2, 0]],
    ['negative or non-finite demand counts as none', { bio: -4, fusion: Number.NaN }, [0, 0]],
  ];
  for (const [what, demand, nodes] of cases) {
    it(what, () => {
      const claims = policyToClaims(policy, demand);
      expect(claims.map((c) => c.demand)).to.deep.equal(nodes);
      expect(claims[0]).to.include({ vo: 'bio', weight: 2, min: 1, max: 10 });
    });
  }

  it('feeds fairShareTargets: 2:5 weights over 7 nodes', () => {
    expect(fairShareTargets(7, policyToClaims(policy, { bio: 100, fusion: 400 }))).to.deep.equal({ bio: 2, fusion: 5 });
  });
});
