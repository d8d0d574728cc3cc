import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runAcceptanceScenario, type ScenarioResult } from '../../scripts/testbed/lib/acceptance-scenario.js';
import { QUEUE, VO_SOFTWARE, VOS } from '../../scripts/testbed/lib/site-config.js';
import { SiteTestbed } from '../../scripts/testbed/lib/site-testbed.js';
import { apelWallSeconds, usageAgreement } from '../../scripts/testbed/lib/usage-check.js';

// The acceptance run of DESIGN §7, the README's main job with assertions: a
// frontend namespace (SGE qmaster, BDII, image repository, coordinator), two
// physical-host namespaces (vonode-agent, dnsmasq, bridge) on one cluster
// LAN, and the bio and fusion VO appliances booted as real QEMU (TCG) guests
// that register themselves with the qmaster. Only gwd is a stand-in (GridWay
// is not packaged for Debian); the MAD it drives is the real one.

interface Timing {
  operation?: { node?: string; vo?: string };
  phases?: Array<{ phase?: string; durationMs?: number }>;
}

describe('e2e: the whole site on one machine (namespaces, QEMU guests, SGE, BDII, GridWay MAD)', function () {
  this.timeout(1_800_000);
  let dir = '';
  let site: SiteTestbed | undefined;
  let result: ScenarioResult;
  let deployTimings: Timing[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-e2e-'));
    site = new SiteTestbed({ dir, hosts: 2, poolSize: 6, weights: { bio: 1, fusion: 2 }, say: (l) => console.log(`      ${l}`) });
    await site.start();
    try {
      result = await runAcceptanceScenario(site, { jobs: { bio: 4, fusion: 8 }, jobSeconds: 5, say: (l) => console.log(`      >> ${l}`) });
    } catch (e) {
      // The testbed goes with the run: its daemons' last words are the only trace left of why.
      console.log(await site.logTails());
      throw e;
    }
    deployTimings = ((JSON.parse(await site.cli(['timings', '--json'])) as { operations?: Timing[] }).operations ?? []);
  });

  after(async () => {
    await site?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('deploys VMs in the policy ratio (bio:fusion = 1:2 over a pool of 6 → 2 and 4)', () => {
    expect(result.peak).to.deep.equal({ bio: 2, fusion: 4 });
  });

  it('makes every VM grid-visible: the BDII counts all 6, GridWay\'s DISCOVER lists them', () => {
    expect(result.peakBdiiInstances).to.equal(6);
    expect([...result.peakGwdView].sort()).to.deep.equal(site!.pool.map((p) => p.hostname).sort());
  });

  it('runs every job inside a VM of its own VO, which reports the VO appliance, the guest kernel and an answer of the VO\'s own software', () => {
    expect(result.jobs).to.have.length(12);
    for (const j of result.jobs) {
      const manifest = site!.appliances[j.vo]!;
      const id = `${j.vo}-appliance-1.0`;
      expect(j.ended, `job ${j.id} ran to its end: ${j.output}`).to.equal(true);
      expect(j.queue, `job ${j.id}`).to.equal(QUEUE[j.vo]);
      expect(j.host, `job ${j.id} ran on a pool VM`).to.be.oneOf(site!.pool.map((p) => p.hostname));
      expect(result.vosOfNode[j.host!], `job ${j.id}'s VM served ${j.vo}`).to.include(j.vo);
      expect(j.marker, `job ${j.id}'s VM marker`).to.equal(`vo=${j.vo} appliance=${id}`);
      const software = VO_SOFTWARE[j.vo].packages.map((p) => `${p}=\\S+`).join(' ');
      expect(j.tool, `job ${j.id} found its VO's tool`).to.match(new RegExp(`^vo=${j.vo} appliance=${id} kernel=${manifest.kernelRelease} software=${software}$`));
      expect(j.work, `job ${j.id}: the VO's own software (${VO_SOFTWARE[j.vo].packages.join(', ')}) answered`).to.equal(VO_SOFTWARE[j.vo].answer);
      expect(j.kernel, `job ${j.id} ran on the guest kernel`).to.equal(manifest.kernelRelease);
    }
    for (const vo of VOS) expect(result.jobs.filter((j) => j.vo === vo).length).to.be.greaterThan(0);
  });

  it('times every deployment phase CR PT DA VMB VMR SR PUB GW', () => {
    expect(deployTimings.length).to.be.at.least(6);
    for (const t of deployTimings) {
      const phases = (t.phases ?? []).map((p) => p.phase);
      expect(phases, t.operation?.node).to.include.members(['PHASE_CR', 'PHASE_PT', 'PHASE_DA', 'PHASE_VMB', 'PHASE_VMR', 'PHASE_SR', 'PHASE_PUB', 'PHASE_GW']);
    }
    const mean = (p: string): number => {
      const d = deployTimings.flatMap((t) => (t.phases ?? []).filter((x) => x.phase === p).map((x) => x.durationMs ?? 0));
      return d.reduce((a, b) => a + b, 0) / d.length / 1000;
    };
    console.log(`      mean s: ${['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW'].map((p) => `${p} ${mean(`PHASE_${p}`).toFixed(2)}`).join(', ')}`);
    console.log(`      released jobs → pool full ${result.wall.toPeakS.toFixed(1)} s, → every node gone ${result.wall.toEmptyS.toFixed(1)} s`);
    console.log(`      BDII showed no instance ${result.after.bdiiZeroAfterLastRemovalS.toFixed(1)} s after the last drain ended (≤ 0: while it drained)`);
  });

  it('keeps a usage record of every VM life: the CLI\'s json, csv, table and apel formats and the APEL writer\'s messages give the same totals', () => {
    const { usage, operations } = result;
    expect(operations.deployed.length, 'deployments').to.be.at.least(6);
    expect(usage.lives.map((l) => l.id).length).to.equal(operations.deployed.length);
    for (const l of usage.lives) {
      expect(l.node, l.id).to.be.oneOf(site!.pool.map((p) => p.hostname));
      expect(l.vo, l.id).to.be.oneOf([...VOS]);
      expect(l.host, l.id).to.be.oneOf(site!.hosts.map((h) => h.name));
      expect(l.endStatus, l.id).to.be.oneOf(['drained', 'removed']);
      expect(l.wallMs, l.id).to.be.greaterThan(0);
    }
    for (const vo of VOS) expect(usage.lives.filter((l) => l.vo === vo).length, vo).to.be.at.least(result.peak[vo]);
    for (const row of usageAgreement(usage, operations.deployed.length)) expect(row.ok, `${row.what}: ${row.value}`).to.equal(true);
    expect(usage.apelWritten.wallSeconds).to.equal(apelWallSeconds(usage.lives));
    console.log(`      usage: ${usage.json.vms} VM lives, ${(usage.json.wallMs / 1000).toFixed(1)} s wall; APEL writer: ${usage.apelWritten.messages} messages`);
  });

  it('gives the hooks every node\'s life as JSON: deployed, running, drain started, removed, and no failure or agent down', () => {
    const { hooks, operations } = result;
    const named = (event: string): typeof hooks => hooks.filter((h) => h.event === event);
    for (const h of hooks) {
      expect(h, JSON.stringify(h)).to.include({ version: 1, site: 'vonode-testbed', time: new Date(h.unixMs).toISOString() });
      const triple = site!.pool.find((p) => p.hostname === h.node?.hostname);
      expect(triple, JSON.stringify(h)).to.not.equal(undefined);
      expect(h.node, JSON.stringify(h)).to.include({ ip: triple!.ip, mac: triple!.mac });
      expect(h.node!.vo).to.be.oneOf([...VOS]);
      expect(h.node!.host).to.be.oneOf(site!.hosts.map((x) => x.name));
    }
    const ids = (event: string): string[] => named(event).map((h) => h.operation!.id).sort();
    expect(ids('node_deployed'), 'node_deployed: once per deployment').to.deep.equal([...operations.deployed].sort());
    expect(ids('node_running'), 'node_running: once per deployment').to.deep.equal([...operations.deployed].sort());
    expect(ids('node_removed'), 'node_removed: once per drain or removal').to.deep.equal([...operations.removed].sort());
    expect(named('node_deployed').every((h) => h.operation!.kind === 'deploy' && h.operation!.state === 'succeeded')).to.equal(true);
    for (const d of named('drain_started')) {
      expect(d.operation!.kind).to.equal('drain');
      expect(operations.removed).to.include(d.operation!.id);
      const gone = named('node_removed').find((r) => r.operation!.id === d.operation!.id)!;
      expect(d.unixMs, `${d.node!.hostname}: the drain starts before the node is removed`).to.be.at.most(gone.unixMs);
    }
    for (const r of named('node_running')) {
      const done = named('node_deployed').find((d) => d.operation!.id === r.operation!.id)!;
      expect(r.unixMs, `${r.node!.hostname}: running (in its queue) before deployed (grid-visible)`).to.be.at.most(done.unixMs);
    }
    expect(named('deployment_failed'), 'deployment_failed').to.deep.equal([]);
    expect(named('agent_down'), 'agent_down').to.deep.equal([]);
  });

  it('leaves nothing behind once demand ends: no node, lease, SGE host, BDII entry, GridWay host, domain, tap, DHCP file, overlay', () => {
    const a = result.after;
    expect(a.poolFree, 'pool leases all free').to.equal(a.poolTotal);
    expect(a.poolTotal).to.equal(6);
    expect(a.sgeNodes, 'SGE exec hosts').to.deep.equal([]);
    expect(a.bdiiInstances, 'BDII instances').to.equal(0);
    expect(a.gwdView, "GridWay's view").to.deep.equal([]);
    for (const [host, l] of Object.entries(a.leftovers)) {
      expect(l, host).to.deep.equal({ qemuProcesses: [], taps: [], dhcpFiles: [], overlays: [], domainRecords: [] });
    }
  });
});
