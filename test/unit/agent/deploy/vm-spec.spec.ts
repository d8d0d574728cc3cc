import { expect } from 'chai';
import { MAX_AGENT_HOSTNAME, MAX_IMAGE_BYTES, validateImageRef, validateVmSpec, type RawVmSpec } from '../../../../agent/deploy/vm-spec.js';
import { InvalidArgumentError } from '../../../../shared/errors.js';

const SHA = 'a'.repeat(64);
const valid: RawVmSpec = {
  hostname: 'vwn-bio-001', ip: '10.77.0.11', mac: '52:54:00:77:00:01', vo: 'bio',
  disk: { url: 'http://repo/appliances/bio.qcow2', sha256: SHA, sizeBytes: 0 }, vcpus: 1, memoryMb: 256,
};
// A hostname of `n` characters made of valid labels (≤ 63 characters each).
const longHostname = (n: number): string => {
  const name = Array.from({ length: Math.ceil(n / 50) + 1 }, () => 'a'.repeat(49)).join('.').slice(0, n).replace(/\.$/, 'a');
  expect(name).to.have.length(n);
  return name;
};

describe('agent/deploy/vm-spec: bounds on what reaches files and arithmetic', () => {
  const cases: Array<[string, RawVmSpec, RegExp | undefined]> = [
    ['a valid request', valid, undefined],
    ['size_bytes 0 (unknown)', { ...valid, disk: { ...valid.disk, sizeBytes: 0 } }, undefined],
    ['size_bytes at the 1 TiB bound', { ...valid, disk: { ...valid.disk, sizeBytes: MAX_IMAGE_BYTES } }, undefined],
    ['size_bytes above 1 TiB', { ...valid, disk: { ...valid.disk, sizeBytes: MAX_IMAGE_BYTES + 1 } }, /invalid vm\.disk\.size_bytes: must be an integer from 0 to 1099511627776/],
    ['size_bytes beyond a safe integer', { ...valid, disk: { ...valid.disk, sizeBytes: 2 ** 60 } }, /invalid vm\.disk\.size_bytes/],
    ['a negative size_bytes', { ...valid, kernel: { url: 'http://repo/appliances/k', sha256: SHA, sizeBytes: -1 } }, /invalid vm\.kernel\.size_bytes/],
    ['a fractional size_bytes', { ...valid, disk: { ...valid.disk, sizeBytes: 1.5 } }, /invalid vm\.disk\.size_bytes/],
    ['a NaN size_bytes', { ...valid, disk: { ...valid.disk, sizeBytes: NaN } }, /invalid vm\.disk\.size_bytes/],
    ['an image URL of 5000 characters', { ...valid, disk: { ...valid.disk, url: `http://repo/${'a'.repeat(5000)}` } }, /invalid vm\.disk\.url: is longer than 4096/],
    [`a hostname of ${MAX_AGENT_HOSTNAME} characters`, { ...valid, hostname: longHostname(MAX_AGENT_HOSTNAME) }, undefined],
    [`a hostname of ${MAX_AGENT_HOSTNAME + 1} characters (it names files)`, { ...valid, hostname: longHostname(MAX_AGENT_HOSTNAME + 1) }, /invalid vm\.hostname: is longer than 200 characters/],
    ['a hostname with a path in it', { ...valid, hostname: '../records/x' }, /invalid vm\.hostname/],
  ];
  for (const [what, raw, problem] of cases) {
    it(`${problem ? 'refuses' : 'accepts'} ${what}`, () => {
      if (problem) expect(() => validateVmSpec(raw)).to.throw(InvalidArgumentError, problem);
      else expect(validateVmSpec(raw).hostname).to.equal(raw.hostname);
    });
  }

  it('bounds size_bytes of a PrefetchImage reference too', () => {
    expect(() => validateImageRef('image', { url: 'http://repo/a', sha256: SHA, sizeBytes: 2 * MAX_IMAGE_BYTES })).to.throw(InvalidArgumentError, /invalid image\.size_bytes/);
    expect(validateImageRef('image', { url: 'http://repo/a', sha256: SHA, sizeBytes: 4096 })).to.deep.equal({ url: 'http://repo/a', sha256: SHA, sizeBytes: 4096 });
  });
});
