import { expect } from 'chai';
import fc from 'fast-check';
import {
  PAYLOAD_SHARE,
  REPOSITORY,
  TransferScheduler,
  type ActiveTransfer,
  type LinkSettings,
  type TransferHost,
  type TransferPlan,
} from '../../../../coordinator/transfers/transfer-scheduler.js';
import type { HostFactsResponse } from '../../../../shared/gen/vonode/v1/agent.js';

/** Payload bytes per second the scheduler plans per declared Mbit/s (framing takes the rest of the link). */
const MBIT = 125_000 * PAYLOAD_SHARE;
const IMG_A = 'a'.repeat(64);
const IMG_B = 'b'.repeat(64);
const IMG_C = 'c'.repeat(64);

const hostName = (n: number): string => `phys-${String(n).padStart(2, '0')}`;
const peerUrlOf = (n: number): string => `https://10.0.0.${n}:7071`;

/** Complete HostFactsResponse of host n: serving peers on 10.0.0.n, a 1 Gbit link, nothing cached. */
function facts(n: number, over: Partial<HostFactsResponse> = {}): HostFactsResponse {
  return {
    hostname: hostName(n),
    cpus: 32,
    memoryTotalBytes: 128 * 2 ** 30,
    memoryAvailableBytes: 100 * 2 ** 30,
    memoryCommittedBytes: 0,
    diskTotalBytes: 2 * 2 ** 40,
    diskFreeBytes: 2 ** 40,
    hypervisor: 'kvm',
    cachedImages: [],
    runningDomains: 0,
    agentVersion: '0.1.0',
    peerUrl: peerUrlOf(n),
    holdings: [],
    uploadPeers: 0,
    linkMbit: 1000,
    ...over,
  };
}

const host = (n: number, over: Partial<HostFactsResponse> = {}, up = true): TransferHost => ({ name: hostName(n), up, facts: facts(n, over) });

const settings = (over: Partial<LinkSettings> = {}): LinkSettings => ({
  repositoryMbit: 1000,
  defaultHostMbit: 1000,
  hostMbit: {},
  peerUploads: 2,
  minRateMbit: 10,
  ...over,
});

/** A scheduler over a mutable host list and a clock that moves 1 ms per start (so "latest started" is well defined). */
function fixture(hosts: TransferHost[], over: Partial<LinkSettings> = {}) {
  let now = 1_000_000;
  let ids = 0;
  const s = new TransferScheduler(settings(over), () => hosts, () => now);
  /** plan + start, as the coordinator does; fails the test when the download is not admitted. */
  const admit = (name: string, sha: string): ActiveTransfer => {
    const plan = s.plan(name, sha);
    expect(plan, `a plan for ${name}`).to.not.equal(undefined);
    now++;
    return s.start(`t${++ids}`, name, sha, 1 << 30, plan!, 'deploy');
  };
  return { s, hosts, admit, tick: (ms = 1) => (now += ms) };
}

const peerNames = (p: TransferPlan): string[] => p.peers.map((x) => x.hostName);

describe('coordinator/transfers/TransferScheduler', () => {
  describe('the first download and chains of simultaneous downloads', () => {
    it('sends the first download of an image to the repository at the smaller of the repository link and the host link', () => {
      const { s } = fixture([host(1), host(2, { linkMbit: 100 })], { repositoryMbit: 300 });
      expect(s.plan('phys-01', IMG_A)).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 300 * MBIT });
      expect(s.plan('phys-02', IMG_A)).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 100 * MBIT });
    });

    it('chains a second simultaneous download of the image to the first host, at no more than the first one\'s rate', () => {
      const { s, admit } = fixture([host(1), host(2), host(3, { linkMbit: 100 })], { repositoryMbit: 300 });
      const first = admit('phys-01', IMG_A);
      expect(first.rateBytesPerSecond).to.equal(300 * MBIT);
      // phys-01's uplink has 1000 Mbit free and phys-02's downlink too: the first one's rate is the cap.
      const second = s.plan('phys-02', IMG_A)!;
      expect(second.source).to.equal('phys-01');
      expect(second.peers[0]).to.deep.equal({ hostName: 'phys-01', url: peerUrlOf(1) });
      expect(second.rateBytesPerSecond).to.equal(300 * MBIT);
      // A slower destination gets its own link's rate, still chained.
      const slow = s.plan('phys-03', IMG_A)!;
      expect(slow.source).to.equal('phys-01');
      expect(slow.rateBytesPerSecond).to.equal(100 * MBIT);
    });

    it('chains to a fetcher even when the repository has room left (the chain costs the repository nothing)', () => {
      const { s, admit } = fixture([host(1, { linkMbit: 200 }), host(2)], { repositoryMbit: 1000 });
      admit('phys-01', IMG_A);
      const p = s.plan('phys-02', IMG_A)!;
      expect(p.source).to.equal('phys-01');
      expect(p.rateBytesPerSecond).to.equal(200 * MBIT);
    });

    it('chains a third download to the second (one downstream per fetcher), the earlier fetchers following as fallbacks, nearest first', () => {
      const { s, admit } = fixture([1, 2, 3, 4, 5].map((n) => host(n)), { repositoryMbit: 300 });
      admit('phys-01', IMG_A);
      expect(admit('phys-02', IMG_A).source).to.equal('phys-01');
      const third = admit('phys-03', IMG_A);
      expect(third.source).to.equal('phys-02');
      expect(peerNames(third)).to.deep.equal(['phys-02', 'phys-01']);
      const fourth = admit('phys-04', IMG_A);
      expect(fourth.source).to.equal('phys-03');
      expect(peerNames(fourth)).to.deep.equal(['phys-03', 'phys-02', 'phys-01']);
      expect(peerNames(s.plan('phys-05', IMG_A)!)).to.deep.equal(['phys-04', 'phys-03', 'phys-02', 'phys-01']);
      // Every fetcher feeds at most one downstream.
      const downstream = new Map<string, number>();
      for (const t of s.list()) downstream.set(t.source, (downstream.get(t.source) ?? 0) + 1);
      for (const [source, n] of downstream) if (source !== REPOSITORY) expect(n, source).to.equal(1);
    });

    it('hands each download at most six peers', () => {
      const { s, admit } = fixture(Array.from({ length: 9 }, (_, i) => host(i + 1)), { repositoryMbit: 300 });
      for (let n = 1; n <= 8; n++) admit(hostName(n), IMG_A);
      const p = s.plan('phys-09', IMG_A)!;
      expect(p.source).to.equal('phys-08');
      expect(peerNames(p)).to.deep.equal(['phys-08', 'phys-07', 'phys-06', 'phys-05', 'phys-04', 'phys-03']);
    });

    it('does not chain downloads of different images', () => {
      const { s, admit } = fixture([host(1), host(2)], { repositoryMbit: 2000 });
      admit('phys-01', IMG_A);
      const p = s.plan('phys-02', IMG_B)!;
      expect(p.source).to.equal(REPOSITORY);
      expect(p.peers).to.deep.equal([]);
    });

    it('never lists a host as its own peer or source, even when it holds or is already fetching the image', () => {
      const { s, admit } = fixture([host(1, { cachedImages: [IMG_A], linkMbit: 300 }), host(2), host(3)], { repositoryMbit: 300 });
      expect(admit('phys-02', IMG_A).source).to.equal('phys-01');
      expect(admit('phys-03', IMG_A).source).to.equal('phys-02');
      const sources: Record<string, string> = {};
      for (const name of ['phys-01', 'phys-02', 'phys-03']) {
        const p = s.plan(name, IMG_A)!;
        sources[name] = p.source;
        expect(p.source, name).to.not.equal(name);
        expect(peerNames(p), name).to.not.include(name);
      }
      expect(sources).to.deep.equal({ 'phys-01': 'phys-03', 'phys-02': 'phys-03', 'phys-03': REPOSITORY });
    });
  });

  describe('hosts holding the image complete', () => {
    it('prefers a complete holder over a fetcher and over the repository, and lists the fetchers after it', () => {
      const hosts = [host(1), host(2), host(5)];
      const { s, admit } = fixture(hosts, { repositoryMbit: 1000 });
      admit('phys-01', IMG_A);
      hosts[2] = host(5, { cachedImages: [IMG_A] });
      const p = s.plan('phys-02', IMG_A)!;
      expect(p.source).to.equal('phys-05');
      expect(p.peers).to.deep.equal([{ hostName: 'phys-05', url: peerUrlOf(5) }, { hostName: 'phys-01', url: peerUrlOf(1) }]);
      expect(p.rateBytesPerSecond).to.equal(1000 * MBIT);
    });

    it('serves at most peerUploads downloads from one holder at once, then the next falls to a fetcher', () => {
      const { s, admit } = fixture([host(1), host(2), host(3), host(5, { cachedImages: [IMG_A] })], { peerUploads: 2, hostMbit: { 'phys-05': 10_000 } });
      expect(admit('phys-01', IMG_A).source).to.equal('phys-05');
      expect(admit('phys-02', IMG_A).source).to.equal('phys-05');
      const third = s.plan('phys-03', IMG_A)!;
      expect(third.source).to.equal('phys-02'); // the latest fetcher, with no downstream yet
      expect(peerNames(third)).to.deep.equal(['phys-02', 'phys-05', 'phys-01']);
      expect(third.rateBytesPerSecond).to.equal(1000 * MBIT);
    });

    it('falls to the repository when the holder is full and no fetcher of the image can feed the download', () => {
      const { s, admit } = fixture([host(1), host(2), host(5, { cachedImages: [IMG_A, IMG_B] })], { peerUploads: 1, hostMbit: { 'phys-05': 10_000 } });
      expect(admit('phys-01', IMG_A).source).to.equal('phys-05');
      const p = s.plan('phys-02', IMG_B)!;
      expect(p.source).to.equal(REPOSITORY);
      expect(peerNames(p)).to.deep.equal(['phys-05']); // still a fallback if a slot frees
    });

    it('gives a holder slot back when a download from it ends', () => {
      const { s, admit } = fixture([host(1), host(2), host(5, { cachedImages: [IMG_A, IMG_B] })], { peerUploads: 1, hostMbit: { 'phys-05': 10_000 } });
      const t = admit('phys-01', IMG_A);
      expect(s.plan('phys-02', IMG_B)!.source).to.equal(REPOSITORY);
      s.end(t.id, true);
      expect(s.plan('phys-02', IMG_B)!.source).to.equal('phys-05');
    });

    it('picks the holder with the most free uplink', () => {
      const { s } = fixture([host(1), host(4, { cachedImages: [IMG_A] }), host(5, { cachedImages: [IMG_A], linkMbit: 10_000 })]);
      const p = s.plan('phys-01', IMG_A)!;
      expect(p.source).to.equal('phys-05');
      expect(peerNames(p)).to.deep.equal(['phys-05', 'phys-04']);
    });

    it('skips a holder whose uplink has less than minRateMbit free', () => {
      const { s, admit } = fixture([host(1), host(2), host(5, { cachedImages: [IMG_A], linkMbit: 1000 })], { peerUploads: 4, minRateMbit: 50, repositoryMbit: 0 });
      expect(admit('phys-01', IMG_A).source).to.equal('phys-05'); // takes the holder's whole uplink
      const p = s.plan('phys-02', IMG_A)!;
      expect(p.source).to.equal('phys-01');
    });

    it('makes a host a holder as soon as its download ends completed, before its facts list the image', () => {
      const { s, admit } = fixture([host(1), host(2)]);
      const t = admit('phys-01', IMG_A);
      s.end(t.id, true);
      const p = s.plan('phys-02', IMG_A)!;
      expect(p.source).to.equal('phys-01');
      expect(p.rateBytesPerSecond).to.equal(1000 * MBIT);
    });

    it('does not make a host a holder when its download ends without completing', () => {
      const { s, admit } = fixture([host(1), host(2)]);
      const t = admit('phys-01', IMG_A);
      s.end(t.id, false);
      expect(s.plan('phys-02', IMG_A)).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 1000 * MBIT });
    });

    it('lets the facts speak for the host again once its heartbeat has listed the image (an eviction afterwards counts)', () => {
      const hosts = [host(1), host(2)];
      const { s, admit } = fixture(hosts);
      s.end(admit('phys-01', IMG_A).id, true);
      hosts[0] = host(1, { cachedImages: [IMG_A] });
      expect(s.plan('phys-02', IMG_A)!.source).to.equal('phys-01');
      hosts[0] = host(1, { cachedImages: [] }); // evicted
      expect(s.plan('phys-02', IMG_A)!.source).to.equal(REPOSITORY);
    });

    it('never uses a host that is down, has no peerUrl or has no facts as a source or peer', () => {
      const unusable: Array<[string, TransferHost]> = [
        ['down', host(5, { cachedImages: [IMG_A] }, false)],
        ['no peerUrl', host(5, { cachedImages: [IMG_A], peerUrl: '' })],
        ['no facts', { name: 'phys-05', up: true, facts: undefined }],
      ];
      for (const [why, holder] of unusable) {
        const { s } = fixture([host(1), holder]);
        expect(s.plan('phys-01', IMG_A), why).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 1000 * MBIT });
      }
      // The same for a fetcher that went down or stopped serving, and for a completed host that went down.
      const hosts = [host(1, { linkMbit: 300 }), host(2, { linkMbit: 300 })];
      const f = fixture(hosts, { repositoryMbit: 1000 });
      const t1 = f.admit('phys-01', IMG_A);
      expect(f.s.plan('phys-02', IMG_A)!.source).to.equal('phys-01');
      hosts[0] = host(1, { linkMbit: 300 }, false);
      expect(f.s.plan('phys-02', IMG_A)).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 300 * MBIT });
      hosts[0] = host(1, { linkMbit: 300, peerUrl: '' });
      expect(f.s.plan('phys-02', IMG_A)).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 300 * MBIT });
      f.s.end(t1.id, true);
      hosts[0] = host(1, { linkMbit: 300 }, false);
      expect(f.s.plan('phys-02', IMG_A)!.peers).to.deep.equal([]);
    });
  });

  describe('admission', () => {
    it('refuses a download that would get less than minRateMbit, and admits it once a transfer ends', () => {
      const { s, admit } = fixture([host(1, { linkMbit: 40 }), host(2, { linkMbit: 40 }), host(3, { linkMbit: 40 })], { repositoryMbit: 100, minRateMbit: 30 });
      const t1 = admit('phys-01', IMG_A);
      admit('phys-02', IMG_B);
      expect(s.plan('phys-03', IMG_C)).to.equal(undefined); // 20 Mbit left on the repository
      s.end(t1.id, false);
      expect(s.plan('phys-03', IMG_C)).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 40 * MBIT });
    });

    it('refuses a download to a host whose downlink has less than minRateMbit free', () => {
      const { s, admit } = fixture([host(1, { linkMbit: 100 }), host(5, { cachedImages: [IMG_B] })], { minRateMbit: 10 });
      admit('phys-01', IMG_A); // 100 Mbit from the repository: the downlink is full
      expect(s.plan('phys-01', IMG_B)).to.equal(undefined);
    });

    it('admits a partial rate when at least minRateMbit is free', () => {
      const { s, admit } = fixture([host(1, { linkMbit: 100 }), host(2, { linkMbit: 100 })], { repositoryMbit: 130, minRateMbit: 30 });
      admit('phys-01', IMG_A);
      expect(s.plan('phys-02', IMG_B)).to.deep.equal({ peers: [], source: REPOSITORY, rateBytesPerSecond: 30 * MBIT });
    });

    it('refuses when neither a holder, a fetcher nor the repository has minRateMbit free', () => {
      const { s, admit } = fixture([host(1, { linkMbit: 100 }), host(2), host(3), host(4)], { repositoryMbit: 100, minRateMbit: 10 });
      admit('phys-01', IMG_A); // repository full; phys-01 feeds phys-02
      admit('phys-02', IMG_A);
      admit('phys-03', IMG_A);
      expect(s.plan('phys-04', IMG_B)).to.equal(undefined);
    });
  });

  describe('link sizes', () => {
    it('takes a host\'s link from the config over its facts, from the facts over the default', () => {
      const { s } = fixture([host(1, { linkMbit: 10_000 }), host(2, { linkMbit: 10_000 }), host(3, { linkMbit: 0 }), { name: 'phys-04', up: true, facts: undefined }], {
        hostMbit: { 'phys-01': 100 },
        defaultHostMbit: 250,
      });
      expect(s.linkBytes('phys-01')).to.equal(100 * MBIT);
      expect(s.linkBytes('phys-02')).to.equal(10_000 * MBIT);
      expect(s.linkBytes('phys-03')).to.equal(250 * MBIT);
      expect(s.linkBytes('phys-04')).to.equal(250 * MBIT);
      expect(s.linkBytes('no-such-host')).to.equal(250 * MBIT);
    });

    it('plans with the declared link, not the one in the facts', () => {
      const { s } = fixture([host(1, { linkMbit: 10_000 })], { hostMbit: { 'phys-01': 100 }, repositoryMbit: 10_000 });
      expect(s.plan('phys-01', IMG_A)!.rateBytesPerSecond).to.equal(100 * MBIT);
    });
  });

  describe('bookkeeping', () => {
    it('lists running downloads oldest first, knows which host fetches what, and forgets ended ones', () => {
      const { s, admit } = fixture([host(1), host(2)], { repositoryMbit: 300 });
      const a = admit('phys-01', IMG_A);
      const b = admit('phys-02', IMG_A);
      expect(s.size).to.equal(2);
      expect(s.list().map((t) => t.id)).to.deep.equal([a.id, b.id]);
      expect(s.transferring('phys-01', IMG_A)).to.equal(true);
      expect(s.transferring('phys-01', IMG_B)).to.equal(false);
      expect(b).to.include({ host: 'phys-02', sha256: IMG_A, source: 'phys-01', purpose: 'deploy', sizeBytes: 1 << 30 });
      s.end(a.id, false);
      s.end(a.id, true); // a second end is a no-op
      s.end('unknown', true);
      expect(s.size).to.equal(1);
      expect(s.transferring('phys-01', IMG_A)).to.equal(false);
      // The repeated end did not make phys-01 a holder.
      expect(s.plan('phys-03', IMG_A)!.source).to.not.equal('phys-01');
    });
  });

  describe('property: the admitted rates never exceed a declared link', () => {
    const IMAGES = [IMG_A, IMG_B, IMG_C];
    const hostArb = fc.record({
      up: fc.boolean(),
      serving: fc.boolean(),
      linkMbit: fc.constantFrom(0, 10, 40, 100, 1000),
      declared: fc.option(fc.constantFrom(20, 100, 1000, 10_000), { nil: undefined }),
      cached: fc.subarray([0, 1, 2]),
    });
    const stepArb = fc.oneof(
      { weight: 6, arbitrary: fc.record({ op: fc.constant('plan' as const), host: fc.nat(), image: fc.nat({ max: 2 }) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('end' as const), pick: fc.nat(), completed: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('toggle' as const), host: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('heartbeat' as const), host: fc.nat() }) },
    );
    const scenarioArb = fc.record({
      hosts: fc.array(hostArb, { minLength: 1, maxLength: 7 }),
      repositoryMbit: fc.constantFrom(10, 50, 100, 300, 1000, 10_000),
      defaultHostMbit: fc.constantFrom(10, 100, 1000),
      peerUploads: fc.integer({ min: 1, max: 4 }),
      minRateMbit: fc.integer({ min: 1, max: 60 }),
      steps: fc.array(stepArb, { maxLength: 60 }),
    });

    it('holds on the repository uplink and every host\'s uplink and downlink after every plan/start/end, and each plan is well formed', () => {
      fc.assert(
        fc.property(scenarioArb, (sc) => {
          const hostMbit: Record<string, number> = {};
          const hosts: TransferHost[] = sc.hosts.map((h, i) => {
            if (h.declared !== undefined) hostMbit[hostName(i + 1)] = h.declared;
            return { name: hostName(i + 1), up: h.up, facts: facts(i + 1, { linkMbit: h.linkMbit, peerUrl: h.serving ? peerUrlOf(i + 1) : '', cachedImages: h.cached.map((c) => IMAGES[c]!) }) };
          });
          // What the heartbeat will list once it comes: images whose download completed.
          const completed = new Map<string, Set<string>>();
          let now = 0;
          let ids = 0;
          const s = new TransferScheduler(
            { repositoryMbit: sc.repositoryMbit, defaultHostMbit: sc.defaultHostMbit, hostMbit, peerUploads: sc.peerUploads, minRateMbit: sc.minRateMbit },
            () => hosts,
            () => now,
          );
          const usable = (name: string): boolean => {
            const h = hosts.find((x) => x.name === name);
            return !!h && h.up && !!h.facts?.peerUrl;
          };
          const holds = (name: string, sha: string): boolean =>
            (hosts.find((x) => x.name === name)?.facts?.cachedImages.includes(sha) ?? false) || (completed.get(name)?.has(sha) ?? false);

          const checkLinks = (): void => {
            const list = s.list();
            const sum = (where: (t: ActiveTransfer) => boolean): number => list.filter(where).reduce((n, t) => n + t.rateBytesPerSecond, 0);
            expect(sum((t) => t.source === REPOSITORY), 'repository uplink').to.be.at.most(sc.repositoryMbit * MBIT);
            for (const h of hosts) {
              expect(sum((t) => t.source === h.name), `${h.name} uplink`).to.be.at.most(s.linkBytes(h.name));
              expect(sum((t) => t.host === h.name), `${h.name} downlink`).to.be.at.most(s.linkBytes(h.name));
            }
          };

          for (const step of sc.steps) {
            if (step.op === 'plan') {
              const name = hosts[step.host % hosts.length]!.name;
              const sha = IMAGES[step.image]!;
              const before = s.list();
              const plan = s.plan(name, sha);
              if (plan) {
                expect(plan.rateBytesPerSecond).to.be.at.least(sc.minRateMbit * MBIT);
                expect(plan.source).to.not.equal(name);
                const names = peerNames(plan);
                expect(names).to.not.include(name);
                expect(new Set(names).size).to.equal(names.length);
                expect(names.length).to.be.at.most(6);
                for (const p of plan.peers) {
                  expect(usable(p.hostName), `peer ${p.hostName} is up and serving`).to.equal(true);
                  expect(p.url).to.equal(hosts.find((x) => x.name === p.hostName)!.facts!.peerUrl);
                }
                if (plan.source !== REPOSITORY) {
                  expect(names[0]).to.equal(plan.source);
                  const uploads = before.filter((t) => t.source === plan.source).length;
                  if (holds(plan.source, sha)) {
                    expect(uploads, 'a holder serves at most peerUploads').to.be.below(sc.peerUploads);
                  } else {
                    // A fetcher: one downstream, never faster than its own download.
                    const upstream = before.filter((t) => t.host === plan.source && t.sha256 === sha);
                    expect(upstream, 'the source fetches the image').to.not.have.length(0);
                    expect(uploads, 'a fetcher feeds one downstream').to.equal(0);
                    expect(plan.rateBytesPerSecond).to.be.at.most(Math.max(...upstream.map((t) => t.rateBytesPerSecond)));
                  }
                }
                now += 1;
                s.start(`t${++ids}`, name, sha, 1 << 30, plan, 'prefetch');
              }
            } else if (step.op === 'end') {
              const list = s.list();
              if (list.length > 0) {
                const t = list[step.pick % list.length]!;
                s.end(t.id, step.completed);
                if (step.completed) completed.set(t.host, (completed.get(t.host) ?? new Set()).add(t.sha256));
              }
            } else if (step.op === 'toggle') {
              const h = hosts[step.host % hosts.length]!;
              h.up = !h.up;
            } else {
              const h = hosts[step.host % hosts.length]!;
              const done = completed.get(h.name);
              if (h.facts && done) h.facts = { ...h.facts, cachedImages: [...new Set([...h.facts.cachedImages, ...done])] };
            }
            checkLinks();
          }
        }),
        { numRuns: 400 },
      );
    });
  });
});
