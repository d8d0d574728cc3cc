import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Deployer } from '../../../../agent/deploy/deployer.js';
import type { VmSpec } from '../../../../agent/deploy/vm-spec.js';
import type { HypervisorDriver } from '../../../../agent/hypervisor/hypervisor-driver.js';
import { TemplateRestoreError, type TemplateFiles } from '../../../../agent/hypervisor/snapshot.js';
import { templateKey } from '../../../../agent/templates/template-key.js';
import { TemplateManager } from '../../../../agent/templates/template-manager.js';
import { TemplateStore } from '../../../../agent/templates/template-store.js';
import { DomainStore } from '../../../../agent/state/domain-store.js';
import { systemClock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { PhaseMark } from '../../../../shared/phases.js';
import {
  FakeDhcp,
  FakeDriver,
  FakeFacts,
  FakeImages,
  FakeSnapshotDriver,
  FakeSnapshots,
  tempDir,
  templatableSpec,
  vmSpec,
} from '../../../helpers/agent-fakes.js';
import { sleep, until } from '../../../helpers/wait.js';

const digestOf = (b: Buffer): { bytes: number; sha256: string } => ({ bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

describe('agent/deploy/Deployer with snapshot templates', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  interface Options {
    /** Give the deployer a template manager (default true). */
    templates?: boolean;
    /** The driver: with snapshot support (default) or a plain FakeDriver. */
    driver?: 'snapshots' | 'plain';
    /** What the manager's idleForMs answers (default 0: never builds); 'deployer' wires it to the deployer. */
    idle?: number | 'deployer';
  }

  async function setup(opts: Options = {}) {
    const stateDir = await tempDir('vonode-restore-');
    const store = new DomainStore(stateDir);
    await store.open();
    const snapshots = new FakeSnapshots();
    const driver: FakeDriver = opts.driver === 'plain' ? new FakeDriver() : new FakeSnapshotDriver(snapshots);
    const dhcp = new FakeDhcp();
    const images = new FakeImages();
    // The fake guest takes its lease 20 ms after the domain starts or is restored.
    driver.onStart = (c) => setTimeout(() => dhcp.grant(c.mac, c.ip), 20);
    const templateStore = new TemplateStore(path.join(stateDir, 'templates'));
    const ref: { deployer?: Deployer } = {};
    const idle = opts.idle ?? 0;
    const manager = new TemplateManager({
      store: templateStore, snapshots, hypervisor: 'qemu', images: new FakeImages(),
      destroyDomain: (name) => driver.destroy(name),
      runRoot: path.join(stateDir, 'run'), instancesDir: path.join(stateDir, 'instances'),
      idleForMs: () => (idle === 'deployer' ? (ref.deployer?.idleForMs() ?? 0) : idle),
      clock: systemClock, logger: silentLogger(),
      settings: { maxCount: 8, idleQuietMs: 20, retryAfterMs: 60_000 },
    });
    await manager.open();
    const invalidated: string[] = [];
    const invalidate = manager.invalidate.bind(manager);
    manager.invalidate = async (key, reason) => {
      invalidated.push(key);
      return invalidate(key, reason);
    };
    const wanted: VmSpec[] = [];
    const want = manager.want.bind(manager);
    manager.want = async (spec) => {
      wanted.push(spec);
      return want(spec);
    };
    const deployer = (ref.deployer = new Deployer({
      driver: driver as HypervisorDriver, dhcp, images, store, facts: new FakeFacts(), clock: systemClock, logger: silentLogger(),
      settings: { stateDir, vmrTimeoutMs: 2000, memoryReserveBytes: 256 * 1024 ** 2 },
      ...(opts.templates === false ? {} : { templates: manager }),
    }));
    cleanup.push(async () => {
      await manager.close();
      await rm(stateDir, { recursive: true, force: true });
    });

    /** Saves a template for `spec` as a finished build would have. */
    const saveTemplate = async (spec: VmSpec): Promise<{ key: string; files: TemplateFiles; sha256: string }> => {
      const shape = (await manager.shapeOf(spec))!;
      const key = templateKey(shape);
      const files = await templateStore.filesFor(key);
      const state = Buffer.alloc(512, 1);
      const memory = Buffer.alloc(4096, 2);
      await writeFile(files.state, state);
      await writeFile(files.memory, memory);
      const record = await templateStore.commit(shape, { state: digestOf(state), memory: digestOf(memory) }, Date.now(), 5);
      return { key, files, sha256: record.stateSha256 };
    };

    const deploy = async (spec: VmSpec): Promise<{ marks: PhaseMark[]; end: (phase: string) => Record<string, string> }> => {
      const marks: PhaseMark[] = [];
      await deployer.deploy({ spec }, (m) => marks.push(m));
      const end = (phase: string): Record<string, string> => marks.find((m) => m.phase === phase && m.edge === 'end')!.details;
      return { marks, end };
    };
    return { stateDir, store, driver, snapshots, dhcp, images, templateStore, manager, deployer, invalidated, wanted, saveTemplate, deploy };
  }

  const spec = templatableSpec('vwn-bio-001', 1);

  it('restores a found template instead of booting, and says so on VMB and VMR', async () => {
    const t = await setup();
    const tpl = await t.saveTemplate(spec);
    const before = Date.now();
    const { end } = await t.deploy(spec);

    expect(t.driver.calls).to.deep.equal(['restore vn-vwn-bio-001']);
    expect(t.snapshots.restores).to.have.length(1);
    const r = t.snapshots.restores[0]!;
    // The VM's own domain (name, disk, MAC, run dir) with the template's command line.
    expect(r.config).to.deep.include({ name: 'vn-vwn-bio-001', hostname: 'vwn-bio-001', mac: spec.mac, ip: spec.ip, vcpus: 1, memoryMb: 256 });
    expect(r.config.diskPath).to.equal(path.join(t.stateDir, 'instances', 'vn-vwn-bio-001.qcow2'));
    expect(r.config.runDir).to.equal(path.join(t.stateDir, 'run', 'vn-vwn-bio-001'));
    expect(r.config.cmdline).to.equal('console=ttyS0 quiet vonode.template=1 init_on_free=1');
    expect(r.state).to.deep.equal({ files: tpl.files, stateSha256: tpl.sha256 });
    // The identity: the pool triple, the host's clock, fresh randomness.
    expect(r.identity).to.deep.include({ hostname: 'vwn-bio-001', mac: spec.mac, ip: spec.ip });
    expect(r.identity.unixTimeS * 1000).to.be.within(before - 1000, Date.now() + 1000);
    expect(r.identity.seedHex).to.match(/^[0-9a-f]{64}$/);

    // Where the restore's time went, whole milliseconds (FakeSnapshots reports 11.4, 22.6 and 3).
    expect(end('VMB')).to.deep.equal({
      driver: 'qemu', domain: 'vn-vwn-bio-001', restored: 'true', template: tpl.key,
      restore_launch_ms: '11', restore_load_ms: '23', restore_identity_ms: '3',
    });
    expect(end('VMR')).to.deep.equal({ ip: spec.ip, restored: 'true' });
    expect((await t.store.get('vwn-bio-001'))?.status).to.equal('running');
    expect(t.wanted, 'no template asked for').to.deep.equal([]);
  });

  it('gives every restored copy its own random seed', async () => {
    const t = await setup();
    await t.saveTemplate(spec);
    await t.deploy(spec);
    await t.deploy(templatableSpec('vwn-bio-002', 2));
    const [a, b] = t.snapshots.restores.map((r) => r.identity);
    expect(a!.hostname).to.not.equal(b!.hostname);
    expect(a!.seedHex).to.not.equal(b!.seedHex);
  });

  it('boots cold without a template, says why, and asks for one', async () => {
    const t = await setup();
    const { end } = await t.deploy(spec);
    expect(t.driver.calls).to.deep.equal(['start vn-vwn-bio-001']);
    expect(t.snapshots.restores).to.deep.equal([]);
    const vmb = end('VMB');
    expect(vmb).to.deep.include({ restored: 'false' });
    expect(vmb['cold_boot_reason']).to.contain('no template');
    expect(end('VMR')).to.deep.equal({ ip: spec.ip, restored: 'false' });
    // The cold boot used the appliance's own command line, not the template's.
    expect(t.driver.calls).to.not.include('restore vn-vwn-bio-001');
    expect(t.wanted.map((s) => s.hostname)).to.deep.equal(['vwn-bio-001']);
    const key = templateKey((await t.manager.shapeOf(spec))!);
    await until('the template to be wanted', async () => (t.manager.pending().includes(key) ? true : undefined), 2000, 5);
  });

  it('on a restore failure with a bad state file: boots cold, deletes the template, asks for a new one', async () => {
    const t = await setup();
    const tpl = await t.saveTemplate(spec);
    t.snapshots.failRestore = new TemplateRestoreError('template state does not match its sha256 (corrupt)', true);
    const { end } = await t.deploy(spec);

    expect(t.snapshots.restores).to.have.length(1);
    expect(t.driver.calls).to.deep.equal(['start vn-vwn-bio-001']);
    const vmb = end('VMB');
    expect(vmb).to.deep.include({ restored: 'false', driver: 'qemu', domain: 'vn-vwn-bio-001' });
    expect(vmb['cold_boot_reason']).to.equal(`restore of template ${tpl.key} failed: template state does not match its sha256 (corrupt)`);
    expect(vmb).to.not.have.property('template');
    expect(vmb).to.not.have.property('restore_load_ms');
    expect(end('VMR')).to.deep.include({ restored: 'false' });
    expect(t.invalidated).to.deep.equal([tpl.key]);
    expect(await exists(path.join(t.templateStore.dir, tpl.key))).to.equal(false);
    expect(t.wanted.map((s) => s.hostname)).to.deep.equal(['vwn-bio-001']);
    expect((await t.store.get('vwn-bio-001'))?.status).to.equal('running');
  });

  it('on a restore failure that is not the state file\'s fault: boots cold and keeps the template', async () => {
    const t = await setup();
    const tpl = await t.saveTemplate(spec);
    t.snapshots.failRestore = new TemplateRestoreError('the restored guest refused its identity: error bad mac', false);
    const { end } = await t.deploy(spec);
    expect(t.driver.calls).to.deep.equal(['start vn-vwn-bio-001']);
    expect(end('VMB')['cold_boot_reason']).to.contain('refused its identity');
    expect(end('VMB')['restored']).to.equal('false');
    expect(t.invalidated).to.deep.equal([]);
    expect((await t.templateStore.find((await t.manager.shapeOf(spec))!)).found?.record.key).to.equal(tpl.key);
    expect(t.wanted).to.have.length(1);
  });

  // want() skips a shape whose template exists, and a failed build removes only an uncommitted key: a kept template survives.
  it('a template kept after a transient restore failure is still restored once an idle-time rebuild was interrupted', async () => {
    const t = await setup({ idle: 'deployer' });
    const tpl = await t.saveTemplate(spec);
    t.snapshots.failRestore = new TemplateRestoreError('no identity acknowledgement from the guest within 10000 ms', false);
    await t.deploy(spec);
    t.snapshots.failRestore = undefined;
    t.snapshots.saveDelayMs = 10_000;
    await sleep(300); // idle (idleQuietMs is 20): today a rebuild of the kept template starts here
    const { end } = await t.deploy(templatableSpec('vwn-bio-002', 2)); // arrives: a build in progress stops
    expect(end('VMB')['cold_boot_reason']).to.equal(undefined);
    expect(end('VMB')).to.deep.include({ restored: 'true', template: tpl.key });
  });

  it('a restore error that is not a TemplateRestoreError fails the deployment and undoes it', async () => {
    const t = await setup();
    const tpl = await t.saveTemplate(spec);
    t.snapshots.failRestore = new Error('EACCES: run directory');
    const marks: PhaseMark[] = [];
    const err = await t.deployer.deploy({ spec }, (m) => marks.push(m)).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).to.equal('EACCES: run directory');
    expect(t.driver.calls.filter((c) => c.startsWith('start'))).to.deep.equal([]);
    expect(marks.some((m) => m.phase === 'VMB' && m.edge === 'end')).to.equal(false);
    expect(await t.store.list()).to.deep.equal([]);
    expect(t.dhcp.reservations.size).to.equal(0);
    expect(t.images.overlays.size).to.equal(0);
    expect(t.invalidated).to.deep.equal([]);
    expect(t.wanted).to.deep.equal([]);
    expect((await t.templateStore.list()).map((r) => r.key)).to.deep.equal([tpl.key]);
  });

  it('a refused template (state of the wrong size) is deleted and the VM boots cold with the reason', async () => {
    const t = await setup();
    const tpl = await t.saveTemplate(spec);
    await writeFile(tpl.files.state, 'truncated');
    const { end } = await t.deploy(spec);
    expect(t.snapshots.restores).to.deep.equal([]);
    expect(t.driver.calls).to.deep.equal(['start vn-vwn-bio-001']);
    expect(end('VMB')['cold_boot_reason']).to.contain('state file has 9 bytes');
    expect(await exists(path.join(t.templateStore.dir, tpl.key))).to.equal(false);
    expect(t.wanted).to.have.length(1);
  });

  it('a VM without a kernel and initrd boots cold with that reason (and no template can be asked for)', async () => {
    const t = await setup();
    const plain = vmSpec('vwn-bio-001', 1);
    const { end } = await t.deploy(plain);
    expect(t.driver.calls).to.deep.equal(['start vn-vwn-bio-001']);
    expect(end('VMB')['cold_boot_reason']).to.contain('kernel and an initrd');
    await sleep(30);
    expect(t.manager.pending()).to.deep.equal([]);
  });

  it('without a template manager it boots cold as before, even with a snapshot-capable driver', async () => {
    const t = await setup({ templates: false });
    await t.saveTemplate(spec);
    const { end } = await t.deploy(spec);
    expect(t.driver.calls).to.deep.equal(['start vn-vwn-bio-001']);
    expect(t.snapshots.restores).to.deep.equal([]);
    expect(end('VMB')).to.deep.equal({ driver: 'qemu', domain: 'vn-vwn-bio-001', restored: 'false' });
    expect(end('VMR')).to.deep.equal({ ip: spec.ip, restored: 'false' });
    expect(t.wanted).to.deep.equal([]);
  });

  it('with a driver without snapshot support it boots cold as before', async () => {
    const t = await setup({ driver: 'plain' });
    await t.saveTemplate(spec);
    const { end } = await t.deploy(spec);
    expect(t.driver.calls).to.deep.equal(['start vn-vwn-bio-001']);
    expect(t.snapshots.restores).to.deep.equal([]);
    expect(end('VMB')).to.deep.equal({ driver: 'qemu', domain: 'vn-vwn-bio-001', restored: 'false' });
    expect(t.wanted).to.deep.equal([]);
  });

  it('a deployment arriving stops a template build; the template is built once the host is idle again', async () => {
    const t = await setup({ idle: 'deployer' });
    t.snapshots.saveDelayMs = 10_000;
    await t.manager.want(spec);
    await until('a build', async () => (t.snapshots.saves.length > 0 ? true : undefined), 2000, 5);
    const other = templatableSpec('vwn-bio-002', 2, { vcpus: 2 });
    const deploying = t.deploy(other);
    expect(t.snapshots.saves[0]!.signal?.aborted, 'aborted as the deployment arrived').to.equal(true);
    await deploying;
    t.snapshots.saveDelayMs = 0;
    // Idle again: both shapes (the aborted one and the one the cold boot asked for) get built.
    await until('both templates', async () => ((await t.templateStore.list()).length === 2 ? true : undefined), 2500, 10);
    await t.manager.settled();
    const { end } = await t.deploy(templatableSpec('vwn-bio-003', 3));
    expect(end('VMB')['restored']).to.equal('true');
  });
});
