import { expect } from 'chai';
import { Deployer } from '../../../../agent/deploy/deployer.js';
import { Remover } from '../../../../agent/deploy/remover.js';
import { recover } from '../../../../agent/deploy/recovery.js';
import { DomainStore } from '../../../../agent/state/domain-store.js';
import { systemClock } from '../../../../shared/clock.js';
import { AlreadyExistsError, ResourceExhaustedError } from '../../../../shared/errors.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { PhaseMark } from '../../../../shared/phases.js';
import { FakeDhcp, FakeDriver, FakeFacts, FakeImages, tempDir, vmSpec } from '../../../helpers/agent-fakes.js';

async function setup() {
  const stateDir = await tempDir();
  const store = new DomainStore(stateDir);
  await store.open();
  const driver = new FakeDriver();
  const dhcp = new FakeDhcp();
  const images = new FakeImages();
  const facts = new FakeFacts();
  // The fake guest takes its lease 20 ms after the domain starts.
  driver.onStart = (c) => setTimeout(() => dhcp.grant(c.mac, '10.77.0.99'), 20);
  const deps = { driver, dhcp, images, store, facts, clock: systemClock, logger: silentLogger() };
  const deployer = new Deployer({ ...deps, settings: { stateDir, vmrTimeoutMs: 2000, memoryReserveBytes: 256 * 1024 ** 2 } });
  const remover = new Remover(deps, 1000);
  return { stateDir, store, driver, dhcp, images, facts, deps, deployer, remover };
}

describe('agent/deploy/Deployer', () => {
  it('runs CR, PT, DA, VMB, VMR in order and persists a running record', async () => {
    const t = await setup();
    const marks: PhaseMark[] = [];
    const record = await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1) }, (m) => marks.push(m));
    expect(marks.map((m) => `${m.phase}:${m.edge}`)).to.deep.equal([
      'CR:start', 'CR:end', 'PT:start', 'PT:end', 'DA:start', 'DA:end', 'VMB:start', 'VMB:end', 'VMR:start', 'VMR:end',
    ]);
    for (let i = 1; i < marks.length; i++) expect(marks[i]!.monotonicMs).to.be.at.least(marks[i - 1]!.monotonicMs);
    expect(marks.find((m) => m.phase === 'VMR' && m.edge === 'end')?.details['ip']).to.equal('10.77.0.99');
    expect(record.status).to.equal('running');
    expect((await t.store.get('vwn-bio-001'))?.status).to.equal('running');
    expect(t.dhcp.reservations.get('vwn-bio-001')?.mac).to.equal('52:54:00:77:00:01');
  });

  it('runs the host-side work (PT..VMB) of deployments one at a time; guest boots overlap', async () => {
    const t = await setup();
    t.images.prepareDelayMs = 30;
    t.driver.onStart = (c) => setTimeout(() => t.dhcp.grant(c.mac, '10.77.0.99'), 200);
    const marks: PhaseMark[] = [];
    await Promise.all([1, 2, 3].map((i) => t.deployer.deploy({ spec: vmSpec(`vwn-bio-00${i}`, i) }, (m) => marks.push(m))));
    const span = (h: string) => {
      const own = marks.filter((m) => m.hostname === h && ['PT', 'DA', 'VMB'].includes(m.phase));
      return [own[0]!.monotonicMs, own[own.length - 1]!.monotonicMs] as const;
    };
    const vmr = (h: string) => marks.filter((m) => m.hostname === h && m.phase === 'VMR').map((m) => m.monotonicMs);
    const hosts = ['vwn-bio-001', 'vwn-bio-002', 'vwn-bio-003'].sort((x, y) => span(x)[0] - span(y)[0]);
    const [a, b, c] = hosts.map(span);
    expect(b![0]).to.be.at.least(a![1]);
    expect(c![0]).to.be.at.least(b![1]);
    // The second host-side span starts while the first guest is still booting.
    expect(b![0]).to.be.below(vmr(hosts[0]!)[1]!);
  });

  it('overlaps deployments when allowParallel is set', async () => {
    const t = await setup();
    t.images.prepareDelayMs = 50;
    const marks: PhaseMark[] = [];
    await Promise.all([1, 2].map((i) => t.deployer.deploy({ spec: vmSpec(`vwn-bio-00${i}`, i), allowParallel: true }, (m) => marks.push(m))));
    const ptStarts = marks.filter((m) => m.phase === 'PT' && m.edge === 'start').map((m) => m.monotonicMs);
    const ptEnds = marks.filter((m) => m.phase === 'PT' && m.edge === 'end').map((m) => m.monotonicMs);
    expect(Math.max(...ptStarts)).to.be.below(Math.min(...ptEnds));
  });

  it('refuses a hostname already deployed, changing nothing', async () => {
    const t = await setup();
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1) }, () => undefined);
    const before = await t.store.get('vwn-bio-001');
    let err: unknown;
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1) }, () => undefined).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(AlreadyExistsError);
    expect(await t.store.get('vwn-bio-001')).to.deep.equal(before);
  });

  // Each case: a second VM that shares one identity with the first (the other two differ).
  const clashes: Array<[string, (first: ReturnType<typeof vmSpec>) => ReturnType<typeof vmSpec>, RegExp]> = [
    ['IP', (a) => vmSpec('vwn-bio-002', 2, { ip: a.ip }), /vm\.ip 10\.77\.0\.11 is already held by domain vn-vwn-bio-001 \(hostname vwn-bio-001/],
    ['MAC', (a) => vmSpec('vwn-bio-002', 2, { mac: a.mac }), /vm\.mac 52:54:00:77:00:01 is already held by domain vn-vwn-bio-001 \(hostname vwn-bio-001/],
  ];
  for (const [what, second, message] of clashes) {
    it(`refuses a VM whose ${what} a domain of this host holds, also when both requests arrive at once`, async () => {
      const t = await setup();
      const a = vmSpec('vwn-bio-001', 1);
      // Sequential: the first is running.
      await t.deployer.deploy({ spec: a }, () => undefined);
      const err = await t.deployer.deploy({ spec: second(a) }, () => undefined).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(AlreadyExistsError);
      expect((err as Error).message).to.match(message);
      expect(await t.store.list()).to.have.length(1);
      expect([...t.dhcp.reservations.keys()]).to.deep.equal(['vwn-bio-001']);

      // Concurrent, on a fresh host: exactly one passes admission; the loser names the winner.
      const c = await setup();
      const results = await Promise.allSettled([c.deployer.deploy({ spec: a }, () => undefined), c.deployer.deploy({ spec: second(a) }, () => undefined)]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(failed, 'one of the two is refused').to.have.length(1);
      expect(failed[0]!.reason).to.be.instanceOf(AlreadyExistsError);
      const winner = results[0]!.status === 'fulfilled' ? 'vwn-bio-001' : 'vwn-bio-002';
      expect((failed[0]!.reason as Error).message).to.contain(`domain vn-${winner} (hostname ${winner}`);
      expect((await c.store.list()).map((r) => r.hostname)).to.deep.equal([winner]);
      expect([...c.dhcp.reservations.keys()]).to.deep.equal([winner]);
    });
  }

  it('refuses a VM that does not fit free memory with RESOURCE_EXHAUSTED and a reason', async () => {
    const t = await setup();
    t.facts.facts = { ...t.facts.facts, memoryAvailableBytes: 512 * 1024 ** 2 };
    let err: unknown;
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1, { memoryMb: 1024 }) }, () => undefined).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(ResourceExhaustedError);
    expect((err as Error).message).to.match(/needs 1024 MiB .* 256 MiB to give/);
    expect(await t.store.list()).to.have.length(0);
  });

  it('counts memory promised to running VMs, not only what is free now', async () => {
    const t = await setup();
    t.facts.facts = { ...t.facts.facts, memoryTotalBytes: 1024 ** 3, memoryAvailableBytes: 1024 ** 3 };
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1, { memoryMb: 512 }) }, () => undefined);
    let err: unknown;
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-002', 2, { memoryMb: 512 }) }, () => undefined).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(ResourceExhaustedError);
  });

  it('undoes everything when the hypervisor fails', async () => {
    const t = await setup();
    t.driver.failStart = new Error('qemu: could not open disk');
    let err: unknown;
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1) }, () => undefined).catch((e: unknown) => (err = e));
    expect((err as Error).message).to.contain('could not open disk');
    expect(await t.store.list()).to.have.length(0);
    expect(t.dhcp.reservations.size).to.equal(0);
    expect(t.images.overlays.size).to.equal(0);
    expect(t.images.pins.get('a'.repeat(64))).to.equal(0);
  });

  it('undoes everything when the guest never gets a lease', async () => {
    const t = await setup();
    t.driver.onStart = () => undefined;
    let err: unknown;
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1) }, () => undefined).catch((e: unknown) => (err = e));
    expect((err as Error).message).to.contain('no lease');
    expect(t.driver.domains.size).to.equal(0);
    expect(await t.store.list()).to.have.length(0);
  });

  it('removes with RC, VMD, DHR, DKR and leaves nothing behind', async () => {
    const t = await setup();
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1) }, () => undefined);
    const marks: PhaseMark[] = [];
    const outcome = await t.remover.remove({ hostname: 'vwn-bio-001' }, (m) => marks.push(m));
    expect(outcome).to.deep.equal({ wasRunning: true, destroyed: false });
    expect(marks.filter((m) => m.edge === 'end').map((m) => m.phase)).to.deep.equal(['RC', 'VMD', 'DHR', 'DKR']);
    expect(t.driver.calls).to.include('shutdown vn-vwn-bio-001');
    expect(await t.store.list()).to.have.length(0);
    expect(t.dhcp.reservations.size).to.equal(0);
    expect(t.images.pins.get('a'.repeat(64))).to.equal(0);
  });

  it('recovery keeps running domains and tears down interrupted ones and orphans', async () => {
    const t = await setup();
    await t.deployer.deploy({ spec: vmSpec('vwn-bio-001', 1) }, () => undefined);
    // An interrupted deployment: record says deploying, DHCP entry written.
    const half = { ...(await t.store.get('vwn-bio-001'))!, hostname: 'vwn-bio-002', domainName: 'vn-vwn-bio-002', status: 'deploying' as const };
    await t.store.put(half);
    await t.dhcp.add({ hostname: 'vwn-bio-002', mac: '52:54:00:77:00:02', ip: '10.77.0.12' });
    // An orphan domain and DHCP entry with no record at all.
    t.driver.domains.set('vn-ghost', { name: 'vn-ghost', state: 'running' });
    await t.dhcp.add({ hostname: 'ghost', mac: '52:54:00:77:00:09', ip: '10.77.0.19' });
    const images = new (await import('../../../helpers/agent-fakes.js')).FakeImages();
    const report = await recover({ ...t.deps, images }, t.stateDir + '/instances');
    expect(report.kept).to.deep.equal(['vwn-bio-001']);
    expect(report.cleaned).to.deep.equal(['vwn-bio-002']);
    expect(report.orphanDomains).to.deep.equal(['vn-ghost']);
    expect(report.orphanDhcp).to.deep.equal(['ghost']);
    expect([...t.dhcp.reservations.keys()]).to.deep.equal(['vwn-bio-001']);
    expect(images.pins.get('a'.repeat(64))).to.equal(1);
  });
});
