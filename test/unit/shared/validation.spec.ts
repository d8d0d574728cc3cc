import { expect } from 'chai';
import { InvalidArgumentError } from '../../../shared/errors.js';
import {
  validateCmdline,
  validateHostname,
  validateImageUrl,
  validateIpv4,
  validateMac,
  validateSafePath,
  validateSha256,
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
  ];
  for (const [kind, fn, value, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} ${kind} ${JSON.stringify(value)}`, () => {
      if (ok) expect(() => fn(value)).not.to.throw();
      else expect(() => fn(value)).to.throw(InvalidArgumentError);
    });
  }

  it('names the field in the error', () => {
    expect(() => validateMac('vm.mac', 'zz')).to.throw(/invalid vm\.mac/);
  });
});
