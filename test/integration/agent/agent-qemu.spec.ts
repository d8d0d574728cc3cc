import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { ensureAppliance, type ApplianceManifest } from '../../../scripts/testbed/lib/appliance.js';
import { AgentHost } from '../../../scripts/testbed/lib/agent-host.js';
import { DomainState } from '../../../shared/gen/vonode/v1/common.js';
import type { VmSpec } from '../../../shared/gen/vonode/v1/common.js';
import { isAgentCallError } from '../../../shared/rpc/agent-client.js';
import { ProcessRunner } from '../../../shared/process/command-runner.js';
import { tapNameFor } from '../../../agent/hypervisor/qemu/tap-device.js';
import { tempDir } from '../../helpers/agent-fakes.js';
import { at, collect } from '../../helpers/deploy-events.js';

// The real thing: a vonode-agent process inside a network namespace with a
// bridge and dnsmasq, booting QEMU (TCG) guests from the test appliance
// (Debian cloud kernel + busybox initrd) fetched over HTTP into its cache.
describe('vonode-agent with QEMU guests (real VMs, dnsmasq, HTTP image repository)', function () {
  this.timeout(240_000);
  let host: AgentHost;
  let app: ApplianceManifest;
  const runner = new ProcessRunner();

  const spec = (n: number, overrides: Partial<VmSpec> = {}): VmSpec => ({
    hostname: `vwn-test-00${n}`,
    ip: `10.213.20.${10 + n}`,
    mac: `52:54:00:20:00:0${n}`,
    vo: 'test',
    disk: { url: `${host.imageUrl}/disk.qcow2`, sha256: app.files['disk.qcow2'].sha256, sizeBytes: app.files['disk.qcow2'].bytes, peers: [], rateBytesPerSecond: 0 },
    kernel: { url: `${host.imageUrl}/vmlinuz`, sha256: app.files.vmlinuz.sha256, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 },
    initrd: { url: `${host.imageUrl}/initrd.gz`, sha256: app.files['initrd.gz'].sha256, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 },
    cmdline: 'console=ttyS0 panic=-1 quiet',
    vcpus: 1,
    memoryMb: 256,
    ...overrides,
  });

  const qemuPids = async (): Promise<string[]> => (await runner.run(['pgrep', '-f', `${host.stateDir}/run/`])).stdout.split('\n').filter(Boolean);
  const taps = async (): Promise<string> => (await runner.run(host.ns.exec(['ip', '-o', 'link', 'show', 'type', 'tun']))).stdout;

  before(async () => {
    app = await ensureAppliance(process.env['VONODE_TEST_APPLIANCE'] ?? '/var/cache/vonode-build/appliance-test', 'test');
    host = new AgentHost({ name: `vnt-aq-${process.pid}`, prefix: '10.213.20', workDir: await tempDir('vonode-aq-'), imageDir: app.dir });
    await host.start();
  });
  after(async () => {
    // Leave nothing running even if a test failed half-way.
    for (const pid of await qemuPids().catch(() => [])) process.kill(Number(pid), 'SIGKILL');
    await host?.destroy();
  });

  it('deploys a VM cold: phases in order, image downloaded, guest boots the appliance and takes its lease', async () => {
    const r = await collect(host.client!.deploy({ vm: spec(1) }));
    const ends = r.marks.filter((m) => m.edge === 'end').map((m) => m.phase);
    expect(ends).to.deep.equal(['CR', 'PT', 'DA', 'VMB', 'VMR']);
    const pt = r.marks.find((m) => m.phase === 'PT' && m.edge === 'end')!;
    expect(pt.details['cache_hit']).to.equal('false');
    expect(Number(pt.details['bytes'])).to.be.greaterThan(app.files['disk.qcow2'].bytes);
    expect(r.marks.find((m) => m.phase === 'VMR' && m.edge === 'end')!.details['ip']).to.equal('10.213.20.11');
    expect(r.done?.state).to.equal(DomainState.DOMAIN_STATE_RUNNING);
    expect(r.done?.leasedIp).to.equal('10.213.20.11');
    // The guest really runs the appliance: its console shows the READY line with our VO marker.
    const consoleLog = path.join(host.stateDir, 'run', 'vn-vwn-test-001', 'console.log');
    for (let i = 0; i < 100 && !(await readFile(consoleLog, 'utf8')).includes('VONODE-GUEST-READY'); i++) await new Promise((s) => setTimeout(s, 100));
    const ready = (await readFile(consoleLog, 'utf8')).split('\n').find((l) => l.includes('VONODE-GUEST-READY'));
    expect(ready).to.contain('ip=10.213.20.11').and.contain('vo=test').and.contain(`kernel=${app.kernelRelease}`);
  });

  it('queues the host-side work of concurrent deployments, overlaps guest boots, and serves them from the cache', async () => {
    const [a, b] = await Promise.all([collect(host.client!.deploy({ vm: spec(2) })), collect(host.client!.deploy({ vm: spec(3) }))]);
    const [first, second] = at(a!.marks, 'PT', 'start') < at(b!.marks, 'PT', 'start') ? [a!, b!] : [b!, a!];
    expect(at(second.marks, 'PT', 'start')).to.be.at.least(at(first.marks, 'VMB', 'end'));
    expect(at(second.marks, 'VMB', 'end')).to.be.below(at(first.marks, 'VMR', 'end'));
    for (const r of [a!, b!]) {
      const pt = r.marks.find((m) => m.phase === 'PT' && m.edge === 'end')!;
      expect(pt.details['cache_hit']).to.equal('true');
      expect(pt.details['bytes']).to.equal('0');
    }
    const images = await host.client!.listImages();
    expect(images.images).to.have.length(3);
    expect(images.images.find((i) => i.sha256 === app.files['disk.qcow2'].sha256)?.inUse).to.equal(3);
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, changing nothing', async () => {
    const before = await host.client!.listDomains();
    for (const [field, vm] of [
      ['vm.mac', spec(4, { mac: '52:54:00:20:00:04,script=/tmp/x' })],
      ['vm.hostname', spec(4, { hostname: 'bad name"' })],
      ['vm.disk.sha256', spec(4, { disk: { url: `${host.imageUrl}/disk.qcow2`, sha256: 'abc', sizeBytes: 0, peers: [], rateBytesPerSecond: 0 } })],
      ['vm.ip', spec(4, { ip: '10.213.20.999' })],
    ] as const) {
      let err: unknown;
      await collect(host.client!.deploy({ vm })).catch((e: unknown) => (err = e));
      expect(isAgentCallError(err) && err.code, field).to.equal(status.INVALID_ARGUMENT);
      expect((err as Error).message).to.contain(field);
    }
    expect(await host.client!.listDomains()).to.deep.equal(before);
    expect(await readdir(host.ns.hostsDir)).to.have.members(['vwn-test-001', 'vwn-test-002', 'vwn-test-003']);
  });

  it('never boots an image whose sha256 does not match', async () => {
    let err: unknown;
    // The repository serves the initrd's bytes where the request names another digest.
    const wrong = createHash('sha256').update('not the initrd').digest('hex');
    await collect(host.client!.deploy({ vm: spec(5, { disk: { url: `${host.imageUrl}/initrd.gz`, sha256: wrong, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 } }) })).catch((e: unknown) => (err = e));
    expect(isAgentCallError(err) && err.code).to.equal(status.FAILED_PRECONDITION);
    expect((err as Error).message).to.contain(`does not match the expected sha256 ${wrong}`);
    // Nothing derived from the bytes it fetched: the only digest in the answer is the requested one.
    expect([...(err as Error).message.matchAll(/[0-9a-f]{64}/g)].map((m) => m[0])).to.deep.equal([wrong]);
    expect((await host.client!.listImages()).images.map((i) => i.sha256)).to.not.include(wrong);
    expect((await host.client!.listDomains()).domains.map((d) => d.spec?.hostname)).to.not.include('vwn-test-005');
    expect(await readdir(host.ns.hostsDir)).to.not.include('vwn-test-005');
  });

  it('keeps running domains across an agent crash and cleans up a deployment the crash interrupted', async () => {
    const pidsBefore = await qemuPids();
    // Crash the agent while it boots vwn-test-006 (after VMB started).
    const events = host.client!.deploy({ vm: spec(6) })[Symbol.asyncIterator]();
    for (;;) {
      const e = await events.next();
      if (e.done) throw new Error('deployment ended before the crash point');
      if (e.value.event?.$case === 'phase' && e.value.event.value.phase === 4 /* VMB */ && e.value.event.value.edge === 2) break;
    }
    await host.stopAgent('SIGKILL');
    await host.startAgent();
    const domains = await host.client!.listDomains();
    expect(domains.domains.map((d) => d.spec?.hostname).sort()).to.deep.equal(['vwn-test-001', 'vwn-test-002', 'vwn-test-003']);
    expect(domains.domains.every((d) => d.state === DomainState.DOMAIN_STATE_RUNNING)).to.equal(true);
    expect(await qemuPids()).to.have.members(pidsBefore);
    expect(await readdir(host.ns.hostsDir)).to.not.include('vwn-test-006');
    expect(await readdir(path.join(host.stateDir, 'instances'))).to.not.include('vn-vwn-test-006.qcow2');
    expect(await taps()).to.not.contain(tapNameFor('vn-vwn-test-006'));
  });

  it('keeps its guests across a stop and start as a package upgrade does them (SIGTERM to the agent alone: KillMode=process)', async () => {
    // postinst's try-restart: systemd signals only the agent's main process; the new agent adopts the guests.
    const pidsBefore = await qemuPids();
    const before = (await host.client!.listDomains()).domains.map((d) => [d.spec?.hostname, d.state]).sort();
    await host.stopAgent('SIGTERM');
    expect(await qemuPids(), 'the guests ran on while no agent did').to.have.members(pidsBefore);
    await host.startAgent();
    expect((await host.client!.listDomains()).domains.map((d) => [d.spec?.hostname, d.state]).sort()).to.deep.equal(before);
    expect(await qemuPids()).to.have.members(pidsBefore);
  });

  it('removes every VM gracefully and leaves nothing behind', async () => {
    for (const n of [1, 2, 3]) {
      const r = await collect(host.client!.remove({ hostname: `vwn-test-00${n}` }));
      expect(r.marks.filter((m) => m.edge === 'end').map((m) => m.phase)).to.deep.equal(['RC', 'VMD', 'DHR', 'DKR']);
      expect(r.removed).to.include({ wasRunning: true, destroyed: false });
    }
    expect((await host.client!.listDomains()).domains).to.deep.equal([]);
    expect(await qemuPids()).to.deep.equal([]);
    expect(await readdir(host.ns.hostsDir)).to.deep.equal([]);
    expect(await readdir(path.join(host.stateDir, 'instances'))).to.deep.equal([]);
    expect(await readdir(path.join(host.stateDir, 'run'))).to.deep.equal([]);
    expect(await taps()).to.equal('');
    const images = await host.client!.listImages();
    expect(images.images.every((i) => i.inUse === 0)).to.equal(true);
    await access(path.join(host.stateDir, 'records')); // the store survives, empty
    expect(await readdir(path.join(host.stateDir, 'records'))).to.deep.equal([]);
  });
});
