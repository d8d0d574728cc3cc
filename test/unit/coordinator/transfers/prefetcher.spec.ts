import { expect } from 'chai';
import { Prefetcher, type PrefetchHost } from '../../../../coordinator/transfers/prefetcher.js';
import { TransferScheduler } from '../../../../coordinator/transfers/transfer-scheduler.js';
import type { Policy, PrefetchPolicy } from '../../../../coordinator/policy/policy-schema.js';
import type { HostFactsResponse, PrefetchImageRequest, PrefetchProgress } from '../../../../shared/gen/vonode/v1/agent.js';
import { systemClock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';

const SHA = 'd'.repeat(64);
const GiB = 2 ** 30;

function facts(n: number, over: Partial<HostFactsResponse> = {}): HostFactsResponse {
  return {
    hostname: `phys-0${n}`, cpus: 8, memoryTotalBytes: 64 * GiB, memoryAvailableBytes: (60 - n) * GiB, memoryCommittedBytes: 0,
    diskTotalBytes: 2 ** 40, diskFreeBytes: 2 ** 39, hypervisor: 'qemu', cachedImages: [], runningDomains: 0, agentVersion: '0.1.0',
    peerUrl: `https://10.0.0.${n}:7071`, holdings: [], uploadPeers: 0, linkMbit: 1000, ...over,
  };
}

function policy(prefetch: PrefetchPolicy | undefined): Policy {
  return {
    cooldowns: { scaleUpMs: 0, scaleDownMs: 0 }, idleBeforeDrainMs: 0,
    vos: [{
      name: 'bio', weight: 1, min: 0, max: 10, queue: 'bio.q', slotsPerNode: 1, vm: { vcpus: 1, memoryMb: 512 },
      appliance: { disk: { url: 'http://repo/bio.qcow2', sha256: SHA, sizeBytes: 300e6 } }, ...(prefetch ? { prefetch } : {}),
    }],
  };
}

/** A recording test double of the agents' PrefetchImage: each call stays open until `finish` is called. */
class RecordingAgents {
  readonly calls: Array<{ host: string; request: PrefetchImageRequest }> = [];
  private readonly pending: Array<() => void> = [];

  client(host: string): { prefetchImage(r: PrefetchImageRequest): AsyncIterable<PrefetchProgress> } {
    return {
      prefetchImage: (request) => {
        this.calls.push({ host, request });
        const done = new Promise<void>((r) => this.pending.push(r));
        return (async function* () {
          await done;
          yield { bytesDone: 300e6, bytesTotal: 300e6, done: true, cacheHit: false };
        })();
      },
    };
  }

  finishAll(): Promise<void> {
    for (const r of this.pending.splice(0)) r();
    return new Promise((r) => setImmediate(r));
  }
}

describe('coordinator/transfers/Prefetcher', () => {
  const setup = (hosts: PrefetchHost[], rule: PrefetchPolicy | undefined, busy = false, nodeHosts: string[] = []) => {
    const transfers = new TransferScheduler({ repositoryMbit: 1000, defaultHostMbit: 1000, hostMbit: {}, peerUploads: 2, minRateMbit: 10 }, () => hosts);
    const agents = new RecordingAgents();
    const prefetcher = new Prefetcher({
      policy: () => policy(rule), hosts: () => hosts, nodeHosts: () => nodeHosts, deploymentsNeedLinks: () => busy,
      transfers, client: (h) => agents.client(h) as never, clock: systemClock, logger: silentLogger(),
    });
    return { transfers, agents, prefetcher };
  };
  const up = (n: number, over: Partial<HostFactsResponse> = {}): PrefetchHost => ({ name: `phys-0${n}`, up: true, facts: facts(n, over) });

  it('warms the N hosts placement would choose next (those caching it count, then the most free memory), each through admission', async () => {
    // phys-01 has the most free memory, phys-04 the least; phys-03 already caches the image.
    const hosts = [up(1), up(2), up(3, { cachedImages: [SHA] }), up(4)];
    const { agents, transfers, prefetcher } = setup(hosts, { hosts: 3, when: 'always' });
    expect(prefetcher.pass()).to.equal(2);
    expect(agents.calls.map((c) => c.host)).to.deep.equal(['phys-01', 'phys-02']);
    // The image goes with its admitted source and rate: the host that holds it serves, the first fetcher chains the second.
    expect(agents.calls[0]!.request.image?.peers.map((p) => p.hostName)).to.include('phys-03');
    expect(agents.calls.every((c) => (c.request.image?.rateBytesPerSecond ?? 0) > 0)).to.equal(true);
    expect(transfers.list().map((t) => [t.host, t.purpose])).to.deep.equal([['phys-01', 'prefetch'], ['phys-02', 'prefetch']]);
    // A second pass while they run starts nothing twice.
    expect(prefetcher.pass()).to.equal(0);
    await agents.finishAll();
    expect(transfers.size).to.equal(0);
  });

  it('with hosts: all warms every up host that lacks the image, and the hosts of the VO nodes too', () => {
    const hosts = [up(1), up(2), { name: 'phys-05', up: false, facts: facts(5) }];
    const { agents, prefetcher } = setup(hosts, { hosts: 'all', when: 'always' });
    prefetcher.pass();
    expect(agents.calls.map((c) => c.host).sort()).to.deep.equal(['phys-01', 'phys-02']);
    const one = setup([up(1), up(2), up(4)], { hosts: 1, when: 'always' }, false, ['phys-04']);
    one.prefetcher.pass();
    expect(one.agents.calls.map((c) => c.host).sort()).to.deep.equal(['phys-01', 'phys-04']);
  });

  it('with when: idle stays off the links while deployments need them; always does not wait', () => {
    const idle = setup([up(1)], { hosts: 1, when: 'idle' }, true);
    expect(idle.prefetcher.pass()).to.equal(0);
    const always = setup([up(1)], { hosts: 1, when: 'always' }, true);
    expect(always.prefetcher.pass()).to.equal(1);
  });

  it('does nothing for a VO without prefetch, and leaves a host that failed alone for a while', async () => {
    expect(setup([up(1)], undefined).prefetcher.pass()).to.equal(0);
    const hosts = [up(1)];
    const transfers = new TransferScheduler({ repositoryMbit: 1000, defaultHostMbit: 1000, hostMbit: {}, peerUploads: 2, minRateMbit: 10 }, () => hosts);
    let calls = 0;
    const failing = new Prefetcher({
      policy: () => policy({ hosts: 1, when: 'always' }), hosts: () => hosts, nodeHosts: () => [], deploymentsNeedLinks: () => false, transfers,
      // eslint-disable-next-line require-yield
      client: () => ({ prefetchImage: () => (calls++, (async function* () { throw new Error('PrefetchImage: repository unreachable'); })()) }) as never,
      clock: systemClock, logger: silentLogger(),
    });
    expect(failing.pass()).to.equal(1);
    await new Promise((r) => setImmediate(r));
    expect(transfers.size, 'the failed prefetch gave its link back').to.equal(0);
    expect(failing.pass(), 'retried only after a pause').to.equal(0);
    expect(calls).to.equal(1);
  });
});
