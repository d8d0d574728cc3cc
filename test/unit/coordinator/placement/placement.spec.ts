import { expect } from 'chai';
import { chooseHost, VCPU_OVERCOMMIT, type PlacementHost, type PlacementRequest } from '../../../../coordinator/placement/placement.js';

const GiB = 1024 ** 3;
const host = (name: string, over: Partial<PlacementHost> = {}): PlacementHost => ({
  name, up: true, cpus: 2, memoryAvailableBytes: 4 * GiB, cachedImages: [], pendingMemoryBytes: 0, pendingVcpus: 0, committedVcpus: 0, busy: false, failedRecently: false, ...over,
});
const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({ memoryMb: 512, vcpus: 1, imageSha256: 'abc', exclude: new Set(), pinnedHost: '', ...over });

describe('coordinator/placement/chooseHost', () => {
  const cases: Array<[string, PlacementHost[], Partial<PlacementRequest>, string | undefined]> = [
    ['prefers a host that caches the appliance over one with more memory', [host('a', { memoryAvailableBytes: 8 * GiB }), host('b', { cachedImages: ['abc'] })], {}, 'b'],
    ['places a host with a recent failed attempt after every other idle host, even one caching the image', [host('a', { failedRecently: true, cachedImages: ['abc'], memoryAvailableBytes: 8 * GiB }), host('b')], {}, 'b'],
    ['uses a recently failed host when it is the only one that fits', [host('a', { failedRecently: true }), host('b', { up: false }), host('c', { memoryAvailableBytes: 0 })], {}, 'a'],
    ['then the host with the most free memory', [host('a'), host('b', { memoryAvailableBytes: 6 * GiB })], {}, 'b'],
    ['counts memory promised to deployments in flight', [host('a', { memoryAvailableBytes: 6 * GiB, pendingMemoryBytes: 4 * GiB }), host('b')], {}, 'b'],
    ['skips busy hosts (one deployment per host)', [host('a', { busy: true, cachedImages: ['abc'] }), host('b')], {}, 'b'],
    ['skips down and excluded hosts', [host('a', { up: false }), host('b'), host('c')], { exclude: new Set(['b']) }, 'c'],
    ['honours a pinned host', [host('a', { cachedImages: ['abc'] }), host('b')], { pinnedHost: 'b' }, 'b'],
    ['refuses a VM larger than any host', [host('a')], { memoryMb: 8192 }, undefined],
    ['refuses more vCPUs than the host has CPUs', [host('a')], { vcpus: 4 }, undefined],
    ['overcommits vCPUs up to the ratio', [host('a', { committedVcpus: 2 * VCPU_OVERCOMMIT - 1 })], {}, 'a'],
    ['but not beyond it', [host('a', { committedVcpus: 2 * VCPU_OVERCOMMIT })], {}, undefined],
  ];
  for (const [what, hosts, r, expected] of cases) {
    it(what, () => expect(chooseHost(hosts, req(r)).host).to.equal(expected));
  }

  it('says to wait (not fail) when every fitting host is busy', () => {
    const out = chooseHost([host('a', { busy: true })], req());
    expect(out).to.deep.include({ host: undefined, waitForBusy: true });
  });

  it('waits for a busy healthy host rather than use one where an attempt just failed', () => {
    const out = chooseHost([host('a', { failedRecently: true }), host('b', { busy: true })], req());
    expect(out).to.deep.include({ host: undefined, waitForBusy: true });
  });

  it('explains why nothing fits', () => {
    const out = chooseHost([host('a')], req({ memoryMb: 99999 }));
    expect(out.reason).to.match(/99999 MiB/);
  });
});
