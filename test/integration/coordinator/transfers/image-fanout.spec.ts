import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ImageTransfer, StatusResponse } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { LinkRateSampler, type LinkRates } from '../../../../scripts/testbed/lib/fanout-lan.js';
import { FanoutSite, VO } from '../../../../scripts/testbed/lib/fanout-site.js';
import type { DeployReport } from '../../../../scripts/testbed/fanout-driver.js';
import { until } from '../../../helpers/wait.js';

const HOSTS = 8;
const MiB = 1024 * 1024;
const IMAGE = 24 * MiB;
// The links are shaped at 200 Mbit/s; the coordinator is told they are 80: any link carrying more than 80 was oversubscribed by vonode's admission.
const SHAPED_MBIT = 200;
const DECLARED_MBIT = 80;
const DECLARED_BYTES = (DECLARED_MBIT * 1e6) / 8;

// Real processes on a namespace LAN (scripts/testbed/lib/fanout-site.ts):
// 8 vonode-agents (simulated hypervisor: the image transfers, TLS,
// heartbeats and placement are real), a vonode-coordinator and the HTTP image
// repository, each host link shaped with tc.
describe('image fan-out over peers (8 hosts on a tc-shaped namespace LAN)', function () {
  this.timeout(600_000);
  const runner = new ProcessRunner();
  let site: FanoutSite;

  const deploy = async (count: number, out: string, host?: string): Promise<DeployReport> => {
    const file = path.join(site.options.workDir, out);
    await runChecked(runner, site.driver(['deploy', '--vo', VO, '--count', String(count), '--out', file, '--timeout', '300', ...(host ? ['--host', host] : [])]));
    return JSON.parse(await readFile(file, 'utf8')) as DeployReport;
  };
  const status = async (): Promise<StatusResponse> => {
    const file = path.join(site.options.workDir, 'status.json');
    await runChecked(runner, site.driver(['status', '--out', file]));
    return JSON.parse(await readFile(file, 'utf8')) as StatusResponse;
  };
  const agentLog = (name: string): Promise<string> => readFile(path.join(site.options.workDir, name, 'agent.log'), 'utf8');
  /** The agents' "image cached (piece-wise)" records of one image. */
  const cachedRecords = async (sha256: string): Promise<Array<{ host: string; fetched: number; bySource: Record<string, number>; corruptSources: string[] }>> => {
    const out = [];
    for (const h of site.hosts) {
      for (const line of (await agentLog(h.name).catch(() => '')).split('\n')) {
        if (!line.includes('image cached (piece-wise)') || !line.includes(sha256)) continue;
        const r = JSON.parse(line) as { fetched: number; bySource: Record<string, number>; corruptSources: string[] };
        out.push({ host: h.name, ...r });
      }
    }
    return out;
  };
  const allVerified = async (): Promise<string[]> => {
    const bad: string[] = [];
    for (const h of site.hosts) if ((await site.cachedDigest(h)) !== site.image.sha256) bad.push(h.name);
    return bad;
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    site = new FanoutSite({
      prefix: 'vnft', subnet: '10.84.0', hosts: HOSTS, hostLinkMbit: SHAPED_MBIT, repoLinkMbit: SHAPED_MBIT, imageBytes: IMAGE, pieceBytes: MiB,
      workDir: path.join(os.tmpdir(), 'vonode-fanout-spec'), useBuild: true,
      coordinator: { transfers: { repositoryMbit: DECLARED_MBIT, defaultHostMbit: DECLARED_MBIT, minRateMbit: 10 } },
    });
    await site.start();
    await runChecked(runner, site.driver(['wait-hosts', '--count', String(HOSTS)]));
  });

  after(async () => {
    await site?.stop();
  });

  it('deploys on every host at once from a cold cache: each copy verified, the repository sends about one copy, no declared link oversubscribed', async () => {
    const sampler = new LinkRateSampler(site.lan, site.lan.linked);
    sampler.start();
    const report = await deploy(HOSTS, 'deploy-1.json');
    const rates = await sampler.stop();
    expect(report.operations.map((o) => o.state)).to.deep.equal(Array(HOSTS).fill('OPERATION_STATE_SUCCEEDED'));
    expect(await allVerified()).to.deep.equal([]);
    const repo = rates.find((r) => r.member === 'repo')!;
    // Everything the repository sent (headers, manifest, one copy and any fallback pieces) stays under two copies.
    expect(repo.txBytes).to.be.below(2 * IMAGE);
    // Every host fetched each byte once (no piece fetched twice), mostly from peers.
    const records = await cachedRecords(site.image.sha256);
    expect(records.map((r) => r.fetched)).to.deep.equal(Array(HOSTS).fill(IMAGE));
    expect(records.filter((r) => Object.keys(r.bySource).some((s) => s !== 'repository'))).to.have.length.at.least(HOSTS - 2);
    expectWithinDeclared(rates);
  });

  it('survives a peer SIGKILLed mid-transfer: its downstream resumes from another source, nothing restarts from zero', async () => {
    await site.useNewImage('disk-2.img');
    const file = path.join(site.options.workDir, 'deploy-2.json');
    const deploying = runChecked(runner, site.driver(['deploy', '--vo', VO, '--count', String(HOSTS), '--out', file, '--timeout', '300']));
    // A host that is both downloading and serving a downstream: kill it once it is part-way.
    const victim = await until('a peer part-way through serving a downstream', async () => {
      const s = await status().catch(() => undefined);
      const transfers: ImageTransfer[] = s?.transfers ?? [];
      const upstreams = new Set(transfers.filter((t) => t.source !== 'repository').map((t) => t.source));
      return transfers.find((t) => upstreams.has(t.host) && t.verifiedBytes > IMAGE / 5 && t.verifiedBytes < (IMAGE * 4) / 5)?.host;
    }, 60_000, 100);
    await site.agent(site.hosts.find((h) => h.name === victim)!).stop(0, 'SIGKILL');
    await deploying;
    const report = JSON.parse(await readFile(file, 'utf8')) as DeployReport;
    // The victim's own deployment was retried on another host; every node runs.
    expect(report.operations.every((o) => o.state === 'OPERATION_STATE_SUCCEEDED'), JSON.stringify(report.operations.map((o) => [o.host, o.state, o.error]))).to.equal(true);
    const records = (await cachedRecords(site.image.sha256)).filter((r) => r.host !== victim);
    // Every surviving host holds the verified image and fetched each byte exactly once, the victim's downstream from two sources or more.
    expect(records.map((r) => r.fetched)).to.deep.equal(Array(records.length).fill(IMAGE));
    const downstream = records.filter((r) => (r.bySource[victim] ?? 0) > 0);
    expect(downstream).to.have.length.at.least(1);
    for (const d of downstream) expect(Object.keys(d.bySource).length, JSON.stringify(d.bySource)).to.be.at.least(2);
    for (const h of site.hosts.filter((x) => x.name !== victim)) expect(await site.cachedDigest(h), h.name).to.equal(site.image.sha256);
    await site.startAgent(site.hosts.find((h) => h.name === victim)!);
    await runChecked(runner, site.driver(['wait-hosts', '--count', String(HOSTS)]));
  });

  it('rejects pieces a peer serves corrupted (its cached copy damaged on disk), drops that peer and takes them elsewhere', async () => {
    await site.useNewImage('disk-3.img');
    // Every host but one gets the image (one fan-out); then each has a different piece of its copy flipped on disk,
    // so whichever peer the coordinator names first serves a bad piece, and every piece still has a good source.
    const first = await deploy(HOSTS - 1, 'deploy-3a.json');
    const holderNames = new Set(first.operations.map((o) => o.host));
    const damaged = site.hosts.filter((h) => holderNames.has(h.name));
    const target = site.hosts.find((h) => !holderNames.has(h.name))!;
    for (const [i, h] of damaged.entries()) await site.damageCachedPiece(h, i + 1);
    const report = await deploy(1, 'deploy-3b.json', target.name);
    expect(report.operations[0]!.state).to.equal('OPERATION_STATE_SUCCEEDED');
    expect(await site.cachedDigest(target)).to.equal(site.image.sha256);
    const record = (await cachedRecords(site.image.sha256)).find((r) => r.host === target.name)!;
    expect(record.corruptSources.length, JSON.stringify(record)).to.be.at.least(1);
    for (const bad of record.corruptSources) expect(damaged.map((h) => h.name)).to.include(bad);
    expect(record.fetched).to.equal(IMAGE);
  });

  it('finishes the fan-out from peers when the repository goes away once one full copy exists', async () => {
    await site.useNewImage('disk-4.img');
    const [first] = site.hosts;
    await deploy(1, 'deploy-4a.json', first!.name);
    await site.stopRepository();
    try {
      // The host that caches the image takes deployments without a transfer, the others fetch it from peers. Not
      // necessarily one each: while peer uploads are full, placement may give the caching host a second one.
      const report = await deploy(HOSTS, 'deploy-4b.json');
      expect(report.operations.map((o) => o.state)).to.deep.equal(Array(HOSTS).fill('OPERATION_STATE_SUCCEEDED'));
      const used = new Set(report.operations.map((o) => o.host));
      expect(used.size, 'hosts other than the one caching the image fetched it from peers').to.be.at.least(HOSTS / 2);
      expect((await allVerified()).filter((h) => used.has(h))).to.deep.equal([]);
    } finally {
      await site.startRepository();
    }
  });

  it('prefetches a VO image on idle links: demand afterwards finds it cached on every host (PT without a transfer)', async () => {
    await site.useNewImage('disk-5.img', { hosts: 'all', when: 'idle' });
    await until('the image prefetched on every host', async () => ((await Promise.all(site.hosts.map((h) => site.cachedBytes(h)))).every((b) => b === IMAGE) ? true : undefined), 120_000, 250);
    const report = await deploy(HOSTS, 'deploy-5.json');
    expect(report.operations.map((o) => o.state)).to.deep.equal(Array(HOSTS).fill('OPERATION_STATE_SUCCEEDED'));
    for (const o of report.operations) expect(o.phases['PT']?.details?.['cache_hit'], o.host).to.equal('true');
  });

  function expectWithinDeclared(rates: LinkRates[]): void {
    for (const r of rates) {
      // 10 % over the declared rate allows for TCP/IP and TLS framing around the paced payload.
      expect(r.maxTxBytesPerSec, `${r.member} sent`).to.be.below(DECLARED_BYTES * 1.1);
      expect(r.maxRxBytesPerSec, `${r.member} received`).to.be.below(DECLARED_BYTES * 1.1);
    }
  }
});
