import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Edge, Phase, type PhaseEvent } from '../../shared/gen/vonode/v1/common.js';
import type { CoordinatorEvent } from '../../shared/gen/vonode/v1/coordinator.js';
import { readJobs, submitJob } from '../../scripts/testbed/lib/acceptance-scenario.js';
import { EventStream } from '../../scripts/testbed/lib/event-stream.js';
import { QUEUE, VO_SOFTWARE } from '../../scripts/testbed/lib/site-config.js';
import { SiteTestbed } from '../../scripts/testbed/lib/site-testbed.js';
import { until } from '../../scripts/testbed/lib/wait.js';

// Deploy by restore (issue 11) with real parts: one physical-host namespace
// (vonode-agent on the QEMU driver, dnsmasq, bridge), the SGE qmaster, the
// coordinator, and the bio VO appliance as real QEMU (TCG) guests. The first
// deployment boots cold and the agent builds a snapshot template when idle;
// four deployments at once then restore that one template, each taking its
// own pool identity (hostname, MAC, IP) over the identity port.

interface NodeTiming {
  vmb?: PhaseEvent;
  vmr?: PhaseEvent;
}

describe('e2e: deploy by restoring a snapshot template (QEMU guests, SGE)', function () {
  this.timeout(1_200_000);
  let dir = '';
  let site: SiteTestbed;
  let stream: EventStream;
  const timings = new Map<string, NodeTiming>();

  const onEvent = (e: CoordinatorEvent): void => {
    if (e.event?.$case !== 'phase' || e.event.value.edge !== Edge.EDGE_END) return;
    const p = e.event.value;
    const t = timings.get(p.hostname) ?? {};
    if (p.phase === Phase.PHASE_VMB) t.vmb = p;
    if (p.phase === Phase.PHASE_VMR) t.vmr = p;
    timings.set(p.hostname, t);
  };

  const deploy = async (count: number): Promise<string[]> => {
    const before = new Set((await nodes()).map((n) => n.hostname));
    await site.cli(['deploy', '--vo', 'bio', '--count', String(count), '--host', site.hosts[0]!.name], 600_000);
    return (await nodes()).map((n) => n.hostname).filter((h) => !before.has(h)).sort();
  };
  const nodes = async (): Promise<Array<{ hostname: string; ip: string; mac: string; state: string }>> =>
    (JSON.parse(await site.cli(['nodes', '--json'])) as { nodes?: Array<{ hostname: string; ip: string; mac: string; state: string }> }).nodes ?? [];
  const removeAll = async (): Promise<void> => {
    for (const n of await nodes()) await site.cli(['remove', n.hostname], 300_000);
  };
  const templateReady = async (): Promise<{ key: string; stateSha256: string; stateBytes: number; memoryBytes: number }> =>
    until('the agent built a template in idle time', async () => (await site.hosts[0]!.templates())[0], 300_000, 500);
  const vmbDetail = (hostname: string, key: string): string | undefined => timings.get(hostname)?.vmb?.details[key];

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-restore-'));
    site = new SiteTestbed({ dir, hosts: 1, poolSize: 5, weights: { bio: 1, fusion: 1 }, idleBeforeDrain: '30m', templates: true, say: (l) => console.log(`      ${l}`) });
    await site.start();
    stream = new EventStream(site.cliArgv(['events', '--json']), onEvent);
    stream.start();
  });

  after(async () => {
    await stream?.stop();
    await site?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('boots the first deployment cold (no template yet) and builds a template of the appliance when the host is idle', async () => {
    const [first] = await deploy(1);
    expect(vmbDetail(first!, 'restored')).to.equal('false');
    expect(vmbDetail(first!, 'cold_boot_reason')).to.match(/no template/);
    await removeAll();
    const t = await templateReady();
    console.log(`      template ${t.key}: device state ${(t.stateBytes / 1e6).toFixed(2)} MB, memory file ${(t.memoryBytes / 1e6).toFixed(0)} MB`);
    expect(t.stateBytes).to.be.greaterThan(0);
    expect(t.memoryBytes).to.equal(256 * 1024 ** 2);
  });

  it('restores 4 guests of one template at once: each has its own hostname, MAC, IP and lease, registers in SGE and runs a job of its VO', async () => {
    const deployed = await deploy(4);
    expect(deployed).to.have.length(4);
    const recorded = (await nodes()).filter((n) => deployed.includes(n.hostname));
    for (const h of deployed) {
      expect(vmbDetail(h, 'restored'), `${h} VMB`).to.equal('true');
      expect(timings.get(h)?.vmr?.details['restored'], `${h} VMR`).to.equal('true');
      const s = (n: number | undefined): string => ((n ?? NaN) / 1000).toFixed(2);
      const d = timings.get(h)?.vmb?.details ?? {};
      console.log(`      ${h}: VMB ${s(timings.get(h)?.vmb?.durationMs)} s (launch ${d['restore_launch_ms']} ms, load ${d['restore_load_ms']} ms, identity ${d['restore_identity_ms']} ms), VMR ${s(timings.get(h)?.vmr?.durationMs)} s`);
    }
    // The leases: one per node, with the pool's own MAC and IP (never the template's MAC), all distinct.
    const leases = await site.hosts[0]!.leases();
    for (const n of recorded) {
      const lease = leases.find((l) => l.mac.toLowerCase() === n.mac.toLowerCase());
      expect(lease, `${n.hostname} holds a lease with its pool MAC ${n.mac}`).to.not.equal(undefined);
      expect(lease!.ip).to.equal(n.ip);
    }
    expect(new Set(leases.map((l) => l.mac)).size).to.equal(leases.length);
    expect(leases.map((l) => l.mac)).to.not.include('02:00:00:00:00:01');
    expect((await site.sgeNodes()).sort()).to.deep.equal(deployed);

    const jobs = await Promise.all(deployed.map(async (h) => ({ id: await submitJob(site, 'bio', `${QUEUE.bio}@${h}`, 1), vo: 'bio' as const, host: h })));
    const reports = await until('every job reported its end', async () => {
      const r = await readJobs(site, jobs);
      return r.every((j) => j.ended) ? r : undefined;
    }, 300_000, 1000);
    for (const j of reports) {
      const host = jobs.find((x) => x.id === j.id)!.host;
      // hostname inside the guest is its pool name, not the template's
      expect(j.host, `job ${j.id}`).to.equal(host);
      expect(j.marker).to.equal('vo=bio appliance=bio-appliance-1.0');
      expect(j.work).to.equal(VO_SOFTWARE.bio.answer);
    }
  });

  it('removing the restored guests leaves nothing behind', async () => {
    await removeAll();
    expect(await site.sgeNodes()).to.deep.equal([]);
    const left = await site.leftovers();
    for (const [host, l] of Object.entries(left)) {
      expect(l, host).to.deep.equal({ qemuProcesses: [], taps: [], dhcpFiles: [], overlays: [], domainRecords: [] });
    }
  });

  it('a corrupted template falls back to a cold boot, is deleted and rebuilt', async () => {
    const t = await templateReady();
    const statePath = site.hosts[0]!.templateStatePath(t.key);
    const bytes = await readFile(statePath);
    // Same size, different bytes in the middle of guest memory: only the digest notices.
    const middle = Math.floor(bytes.length / 2);
    for (let i = 0; i < 4096; i++) bytes[middle + i] = (bytes[middle + i] ?? 0) ^ 0xff;
    await writeFile(statePath, bytes);
    const [node] = await deploy(1);
    expect(vmbDetail(node!, 'restored')).to.equal('false');
    console.log(`      cold boot because: ${vmbDetail(node!, 'cold_boot_reason')}`);
    expect(vmbDetail(node!, 'cold_boot_reason')).to.match(/could not load the template state|does not match its sha256/);
    expect((await nodes()).find((n) => n.hostname === node)?.state).to.equal('NODE_STATE_RUNNING');
    await removeAll();
    const rebuilt = await until('the template was rebuilt', async () => {
      const now = (await site.hosts[0]!.templates())[0];
      return now && now.stateSha256 !== t.stateSha256 ? now : undefined;
    }, 300_000, 500);
    expect(rebuilt.key).to.equal(t.key);
  });
});
