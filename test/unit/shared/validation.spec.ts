import { expect } from 'chai';
import { InvalidArgumentError } from '../../../shared/errors.js';
import {
  validateCmdline,
  validateHostname,
  validateImageUrl,
  validateIpv4,
  validateMac,
  validateOperationId,
  validateSafePath,
  validateSha256,
  validateVoName,
  voNameProblem,
} from '../../../shared/validation.js';

describe('shared/validation', () => {
  const cases: Array<[string, (v: string) => unknown, string, boolean]> = [
    ['hostname', (v) => validateHostname('h', v), 'vwn-bio-003', true],
    ['hostname', (v) => validateHostname('h', v), 'vwn-bio-003.site.example', true],
    ['hostname', (v) => validateHostname('h', v), 'VWN', false],
    ['hostname', (v) => validateHostname('h', v), 'a b', false],
    ['hostname', (v) => validateHostname('h', v), 'x"; rm -rf /', false],
    ['hostname', (v) => validateHostname('h', v), '-lead', false],
    ['hostname', (v) => validateHostname('h', v), 'a..b', false],
    ['hostname', (v) => validateHostname('h', v), 'x\nhost evil', false],
    ['hostname', (v) => validateHostname('h', v), '', false],
    ['mac', (v) => validateMac('m', v), '52:54:00:12:34:56', true],
    ['mac', (v) => validateMac('m', v), '52:54:00:12:34', false],
    ['mac', (v) => validateMac('m', v), '01:00:5e:00:00:01', false],
    ['mac', (v) => validateMac('m', v), '52-54-00-12-34-56', false],
    ['mac', (v) => validateMac('m', v), '52:54:00:12:34:56,bridge=x', false],
    ['ipv4', (v) => validateIpv4('i', v), '10.1.0.3', true],
    ['ipv4', (v) => validateIpv4('i', v), '10.1.0.300', false],
    ['ipv4', (v) => validateIpv4('i', v), '::1', false],
    ['sha256', (v) => validateSha256('s', v), 'a'.repeat(64), true],
    ['sha256', (v) => validateSha256('s', v), 'a'.repeat(63), false],
    ['sha256', (v) => validateSha256('s', v), 'g'.repeat(64), false],
    ['url', (v) => validateImageUrl('u', v), 'http://127.0.0.1:8080/bio.qcow2', true],
    ['url', (v) => validateImageUrl('u', v), 'file:///srv/images/bio.qcow2', true],
    ['url', (v) => validateImageUrl('u', v), 'ftp://host/x', false],
    ['url', (v) => validateImageUrl('u', v), 'not a url', false],
    ['path', (v) => validateSafePath('p', v), '/var/lib/vonode/x.qcow2', true],
    ['path', (v) => validateSafePath('p', v), 'relative/x', false],
    ['path', (v) => validateSafePath('p', v), '/a/../b', false],
    ['path', (v) => validateSafePath('p', v), '/a/b c', false],
    ['path', (v) => validateSafePath('p', v), '/a/"b"', false],
    ['cmdline', (v) => validateCmdline('c', v), 'console=ttyS0 panic=-1 quiet', true],
    ['cmdline', (v) => validateCmdline('c', v), 'console=ttyS0"\nname="x', false],
    // The one VO-name rule (the policy's since the start): lowercase letter first, a-z 0-9 -, ≤ 31 chars.
    ['VO name', (v) => validateVoName('vo', v), 'bio', true],
    ['VO name', (v) => validateVoName('vo', v), 'fusion-2', true],
    ['VO name', (v) => validateVoName('vo', v), `a${'b'.repeat(30)}`, true],
    ['VO name', (v) => validateVoName('vo', v), `a${'b'.repeat(31)}`, false],
    ['VO name', (v) => validateVoName('vo', v), 'bio_x', false],
    ['VO name', (v) => validateVoName('vo', v), 'Bio', false],
    ['VO name', (v) => validateVoName('vo', v), '2bio', false],
    ['VO name', (v) => validateVoName('vo', v), '', false],
  ];
  for (const [kind, fn, value, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} ${kind} ${JSON.stringify(value)}`, () => {
      if (ok) expect(() => fn(value)).not.to.throw();
      else expect(() => fn(value)).to.throw(InvalidArgumentError);
    });
  }

  it('gives the VO-name rule in one message, naming the field; it never offers "_"', () => {
    expect(() => validateVoName('vm.vo', 'bio_x')).to.throw(InvalidArgumentError, `invalid vm.vo: ${voNameProblem('bio_x')!}`);
    expect(voNameProblem('bio_x')).to.equal('"bio_x" is not a VO name: use a lowercase letter then up to 30 of a-z, 0-9, - (e.g. bio, fusion-2)');
    expect(voNameProblem('bio')).to.equal(undefined);
  });

  it('names the field in the error', () => {
    expect(() => validateMac('vm.mac', 'zz')).to.throw(/invalid vm\.mac/);
  });
});

describe('shared/validation: validateOperationId', () => {
  const cases: Array<[string, boolean, boolean]> = [
    ['0d9c4f8e-3b1a-4c55-9a57-2f1e6b0c7d11', true, true],
    ['op-sim-1', true, true],
    ['a'.repeat(64), true, true],
    ['', true, true],
    ['', false, false],
    ['a'.repeat(65), true, false],
    ['../../etc/passwd', true, false],
    ['op/1', true, false],
    ['op 1', true, false],
    ['op\nlevel=fatal', true, false],
    ['op_1', true, false],
  ];
  for (const [value, allowEmpty, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} ${JSON.stringify(value)}${allowEmpty ? '' : ' (empty not allowed)'}`, () => {
      if (ok) expect(validateOperationId('operation_id', value, allowEmpty)).to.equal(value);
      else expect(() => validateOperationId('operation_id', value, allowEmpty)).to.throw(InvalidArgumentError, /invalid operation_id: must be a UUID or 1 to 64 of/);
    });
  }
});
