import { expect } from 'chai';
import { InvalidArgumentError } from '../../../../shared/errors.js';
import type { HostFactsResponse } from '../../../../shared/gen/vonode/v1/agent.js';
import type { Domain } from '../../../../shared/gen/vonode/v1/common.js';
import { validateHostFacts, validateReportedDomains } from '../../../../coordinator/api/agent-report.js';

const facts = (over: Partial<HostFactsResponse> = {}): HostFactsResponse => ({
  hostname: 'phys-01', cpus: 16, memoryTotalBytes: 64 * 2 ** 30, memoryAvailableBytes: 60 * 2 ** 30, memoryCommittedBytes: 0,
  diskTotalBytes: 2 ** 40, diskFreeBytes: 2 ** 39, hypervisor: 'qemu', cachedImages: ['a'.repeat(64)], runningDomains: 0, agentVersion: '0.1.0', peerUrl: '', holdings: [], uploadPeers: 0, linkMbit: 0, ...over,
});

describe('coordinator/api/agent-report', () => {
  it('accepts a real report and no facts at all', () => {
    expect(validateHostFacts('facts', facts())).to.deep.equal(facts());
    expect(validateHostFacts('facts', undefined)).to.equal(undefined);
  });

  const bad: Array<[string, Partial<HostFactsResponse>, RegExp]> = [
    ['NaN memory', { memoryTotalBytes: Number.NaN }, /facts.memoryTotalBytes/],
    ['negative disk', { diskFreeBytes: -1 }, /facts.diskFreeBytes/],
    ['fractional cpus', { cpus: 1.5 }, /facts.cpus/],
    ['more available than total', { memoryAvailableBytes: 65 * 2 ** 30 }, /memory_available_bytes/],
    ['a cached image that is no digest', { cachedImages: ['../../etc/passwd'] }, /cached_images\[0\]/],
    ['a control character in the version', { agentVersion: '1.0\n{"level":60}' }, /agentVersion: holds control characters/],
    ['a huge hypervisor name', { hypervisor: 'x'.repeat(300) }, /longer than 256/],
  ];
  for (const [what, over, message] of bad) {
    it(`refuses ${what}`, () => {
      expect(() => validateHostFacts('facts', facts(over))).to.throw(InvalidArgumentError, message);
    });
  }

  it('refuses reported domains whose names could not be pool names', () => {
    const domain = (hostname: string, leasedIp = ''): Domain => ({ name: `vn-${hostname}`, spec: { hostname } as Domain['spec'], state: 1, driver: 'qemu', leasedIp });
    expect(validateReportedDomains('domains', [domain('vwn-001', '10.0.0.1')])).to.have.length(1);
    expect(() => validateReportedDomains('domains', [domain('vwn-001'), domain('../x')])).to.throw(InvalidArgumentError, /domains\[1\].spec.hostname/);
    expect(() => validateReportedDomains('domains', [domain('vwn-001', 'not-an-ip')])).to.throw(InvalidArgumentError, /domains\[0\].leased_ip/);
  });
});
