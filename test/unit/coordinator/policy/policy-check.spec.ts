import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../../../shared/config/load-yaml.js';
import {
  checkPolicyFile,
  checkPolicyText,
  formatProblem,
  policyConfigError,
  type PolicyCheckResult,
  type PolicyProblem,
} from '../../../../coordinator/policy/policy-check.js';

const SHA = 'cbe243cb5c0622dcd70019ec97d87c71d2000eaf44f6ecab2d1c51963aaeca1b';
const DISK = `disk: { url: http://10.0.0.1/bio.qcow2, sha256: ${SHA} }`;
const KERNEL = `kernel: { url: http://10.0.0.1/vmlinuz, sha256: ${SHA} }`;
const vo = (name: string, fields: string, appliance = DISK): string =>
  `  ${name}: { ${fields}, appliance: { ${appliance} } }\n`;
const VALID = 'vos:\n' + vo('bio', 'weight: 2, max: 10, queue: bio.q') + vo('fusion', 'weight: 5, min: 1, max: 20, queue: fusion.q');

function problems(r: PolicyCheckResult): PolicyProblem[] {
  if (r.ok) throw new Error('expected the policy to be refused');
  return r.problems;
}

describe('coordinator/policy/checkPolicyText', () => {
  it('accepts every number at its ceiling: 4TiB of memory, 256 vCPUs, weight 1e6, 100000 nodes and slots, 168h', () => {
    const text = 'cooldowns: { scaleUp: 168h, scaleDown: 168h }\nidleBeforeDrain: 168h\nvos:\n' +
      vo('bio', 'weight: 1000000, min: 100000, max: 100000, slotsPerNode: 100000, queue: q, vm: { vcpus: 256, memory: 4TiB }', `disk: { url: http://h/x, sha256: ${SHA}, size: 16TiB }`);
    const r = checkPolicyText(text, 'policy.yaml');
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join('; '));
    expect(r.policy.vos[0]!.vm).to.deep.equal({ vcpus: 256, memoryMb: 4 * 1024 * 1024 });
  });

  it('accepts a valid policy and notes the mins as a warning', () => {
    const r = checkPolicyText(VALID, 'policy.yaml');
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.policy.vos.map((v) => v.name)).to.deep.equal(['bio', 'fusion']);
    expect(r.warnings).to.have.length(1);
    expect(r.warnings[0]!.path).to.equal('vos.*.min');
    expect(r.warnings[0]!.message).to.match(/add up to 1 nodes \(fusion 1\)/);
  });

  const warnings: Array<[string, number | undefined, number]> = [
    ['mins within capacity: nothing to say', 5, 0],
    ['mins above capacity: say so', 0, 1],
    ['capacity unknown: note the sum', undefined, 1],
  ];
  for (const [what, capacity, count] of warnings) {
    it(`warnings: ${what}`, () => {
      const r = checkPolicyText(VALID, 'policy.yaml', capacity === undefined ? {} : { capacity });
      expect(r.ok && r.warnings.length).to.equal(count);
    });
  }

  it('has no warning when no VO has a min', () => {
    const r = checkPolicyText('vos:\n' + vo('bio', 'max: 1, queue: q'), 'p.yaml');
    expect(r.ok && r.warnings).to.deep.equal([]);
  });

  // [what, YAML, field path, what the message must say]
  const refused: Array<[string, string, string, RegExp]> = [
    ['not YAML', 'vos: [\n', '(file)', /not valid YAML.*at line \d+, column \d+; fix the syntax/],
    ['a VO listed twice', 'vos:\n' + vo('bio', 'max: 1, queue: a') + vo('bio', 'max: 1, queue: b'), '(file)', /unique/],
    ['a list document', '- a\n', '(top level)', /must be a mapping of fields/],
    ['empty file', '', 'vos', /is required; add it/],
    ['no VOs', 'vos: {}\n', 'vos', /at least one VO/],
    ['unknown key', VALID + 'idleBeforeDrian: 5s\n', 'idleBeforeDrian', /not a policy field; remove it or fix its spelling/],
    ['misspelled VO field', 'vos:\n' + vo('bio', 'wieght: 2, max: 1, queue: q'), 'vos.bio.wieght', /not a policy field/],
    ['bad VO name', 'vos:\n' + vo('Bio', 'max: 1, queue: q'), 'vos.Bio', /lowercase letter/],
    ['missing max', 'vos:\n' + vo('bio', 'queue: q'), 'vos.bio.max', /is required/],
    ['max a string', 'vos:\n' + vo('bio', 'max: lots, queue: q'), 'vos.bio.max', /whole number of nodes/],
    ['weight 0', 'vos:\n' + vo('bio', 'weight: 0, max: 1, queue: q'), 'vos.bio.weight', /above 0/],
    ['min > max', 'vos:\n' + vo('bio', 'min: 3, max: 2, queue: q'), 'vos.bio.max', /below min \(3\); raise max or lower min/],
    ['duplicate queue', 'vos:\n' + vo('bio', 'max: 1, queue: q') + vo('fus', 'max: 1, queue: q'), 'vos.fus.queue', /already the queue of VO bio/],
    ['bad sha256', 'vos:\n' + vo('bio', 'max: 1, queue: q', 'disk: { url: http://h/x, sha256: abc }'), 'vos.bio.appliance.disk.sha256', /64-hex sha256 of the image; compute it with sha256sum FILE/],
    ['missing sha256', 'vos:\n' + vo('bio', 'max: 1, queue: q', 'disk: { url: http://h/x }'), 'vos.bio.appliance.disk.sha256', /is required/],
    ['ftp url', 'vos:\n' + vo('bio', 'max: 1, queue: q', `disk: { url: ftp://h/x, sha256: ${SHA} }`), 'vos.bio.appliance.disk.url', /use http:\/\/HOST\/PATH/],
    ['initrd without kernel', 'vos:\n' + vo('bio', 'max: 1, queue: q', `${DISK}, initrd: { url: http://h/i, sha256: ${SHA} }`), 'vos.bio.appliance.initrd', /add appliance.kernel or remove initrd/],
    ['cmdline without kernel', 'vos:\n' + vo('bio', 'max: 1, queue: q', `${DISK}, cmdline: ro`), 'vos.bio.appliance.cmdline', /add appliance.kernel or remove cmdline/],
    ['cmdline with ;', 'vos:\n' + vo('bio', 'max: 1, queue: q', `${DISK}, ${KERNEL}, cmdline: "a;b"`), 'vos.bio.appliance.cmdline', /characters outside/],
    ['appliance a string', 'vos:\n  bio: { max: 1, queue: q, appliance: x }\n', 'vos.bio.appliance', /must be a mapping of fields \(key: value\), not a string/],
    ['bad duration', VALID + 'cooldowns: { scaleDown: later }\n', 'cooldowns.scaleDown', /not a duration like 500ms, 30s/],
    ['odd memory', 'vos:\n' + vo('bio', 'max: 1, queue: q, vm: { memory: 1000MB }'), 'vos.bio.vm.memory', /whole number of MiB/],
    // Bounds: every number has a ceiling, stated in the message.
    ['memory 99999999TiB', 'vos:\n' + vo('bio', 'max: 1, queue: q, vm: { memory: 99999999TiB }'), 'vos.bio.vm.memory', /must be from 64MiB to 4TiB \(agents refuse larger VMs\)/],
    ['memory 4TiB + 1MiB', 'vos:\n' + vo('bio', 'max: 1, queue: q, vm: { memory: 4194305MiB }'), 'vos.bio.vm.memory', /must be from 64MiB to 4TiB/],
    ['memory beyond 2^53 bytes', 'vos:\n' + vo('bio', 'max: 1, queue: q, vm: { memory: 99999999999999999999TiB }'), 'vos.bio.vm.memory', /too large \(over 2\^53 bytes\): it must be from 64MiB to 4TiB/],
    ['memory .inf', 'vos:\n' + vo('bio', 'max: 1, queue: q, vm: { memory: .inf }'), 'vos.bio.vm.memory', /not a finite number of bytes/],
    ['vcpus 257', 'vos:\n' + vo('bio', 'max: 1, queue: q, vm: { vcpus: 257 }'), 'vos.bio.vm.vcpus', /from 1 to 256/],
    ['weight .inf', 'vos:\n' + vo('bio', 'weight: .inf, max: 1, queue: q'), 'vos.bio.weight', /number above 0/],
    ['weight 1e7', 'vos:\n' + vo('bio', 'weight: 1e7, max: 1, queue: q'), 'vos.bio.weight', /at most 1000000; only the ratios/],
    ['max 100001', 'vos:\n' + vo('bio', 'max: 100001, queue: q'), 'vos.bio.max', /at most 100000 nodes/],
    ['min 1e20', 'vos:\n' + vo('bio', 'min: 1e20, max: 1, queue: q'), 'vos.bio.min', /whole number of nodes/],
    ['slotsPerNode 100001', 'vos:\n' + vo('bio', 'max: 1, slotsPerNode: 100001, queue: q'), 'vos.bio.slotsPerNode', /at most 100000 job slots/],
    ['disk size 17TiB', 'vos:\n' + vo('bio', 'max: 1, queue: q', `disk: { url: http://h/x, sha256: ${SHA}, size: 17TiB }`), 'vos.bio.appliance.disk.size', /must be from 0B to 16TiB/],
    ['a cooldown of 8 days', VALID + 'cooldowns: { scaleUp: 192h }\n', 'cooldowns.scaleUp', /must be from 0ms to 168h/],
    ['idleBeforeDrain 1e400s', VALID + 'idleBeforeDrain: 1e400s\n', 'idleBeforeDrain', /not a duration like 500ms/],
    ['idleBeforeDrain beyond 2^53 ms', VALID + 'idleBeforeDrain: 99999999999999999999h\n', 'idleBeforeDrain', /too large/],
    ['a VO name with _', 'vos:\n' + vo('bio_x', 'max: 1, queue: q'), 'vos.bio_x', /^"bio_x" is not a VO name: use a lowercase letter then up to 30 of a-z, 0-9, - \(e\.g\. bio, fusion-2\)$/],
  ];
  for (const [what, text, path, message] of refused) {
    it(`refuses ${what}, naming ${path} and what to do`, () => {
      const found = problems(checkPolicyText(text, 'policy.yaml')).filter((p) => p.path === path);
      expect(found, `no problem at ${path}`).to.have.length.greaterThan(0);
      expect(found.map((p) => p.message).join(' | ')).to.match(message);
    });
  }

  it('reports field and cross-field problems of one file together, once each', () => {
    const text = 'vos:\n' + vo('bio', 'min: 3, max: 2, queue: q', 'disk: { url: http://h/x, sha256: abc }, cmdline: ro') + vo('fus', 'max: 1, queue: q');
    const got = problems(checkPolicyText(text, 'policy.yaml')).map((p) => p.path).sort();
    expect(got).to.deep.equal(['vos.bio.appliance.cmdline', 'vos.bio.appliance.disk.sha256', 'vos.bio.max', 'vos.fus.queue']);
  });
});

describe('coordinator/policy/checkPolicyFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-policy-check-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('checks a file on disk', async () => {
    const file = path.join(dir, 'ok.yaml');
    await writeFile(file, VALID);
    expect((await checkPolicyFile(file)).ok).to.equal(true);
  });

  it('reports an unreadable file as a problem instead of throwing', async () => {
    const [p] = problems(await checkPolicyFile(path.join(dir, 'missing.yaml')));
    expect(p!.path).to.equal('(file)');
    expect(p!.message).to.match(/cannot read .*missing\.yaml.*check the path/);
  });

  it('checks docs/policy.example.yaml', async () => {
    const r = await checkPolicyFile(new URL('../../../../docs/policy.example.yaml', import.meta.url).pathname);
    expect(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n')).to.equal(true);
  });

  it('turns problems into a ConfigError naming each field', () => {
    const e = policyConfigError('p.yaml', [{ path: 'vos.bio.max', message: 'is required' }]);
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.equal('p.yaml: invalid configuration:\n  - vos.bio.max: is required');
  });
});
