import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TEMPLATE_CMDLINE_FLAG } from '../../../../agent/hypervisor/snapshot.js';
import { templateKey, type TemplateShape } from '../../../../agent/templates/template-key.js';
import { TEMPLATE_DOMAIN_PREFIX, TEMPLATE_MAC, TemplateManager, type TemplateSettings } from '../../../../agent/templates/template-manager.js';
import { TemplateStore } from '../../../../agent/templates/template-store.js';
import { systemClock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';
import { FakeImages, FakeSnapshots, tempDir, templatableSpec, templateShape, vmSpec } from '../../../helpers/agent-fakes.js';
import { sleep, until } from '../../../helpers/wait.js';

const digestOf = (b: Buffer): { bytes: number; sha256: string } => ({ bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

describe('agent/templates/TemplateManager', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(settings: Partial<TemplateSettings> = {}) {
    const root = await tempDir('vonode-tm-');
    const store = new TemplateStore(path.join(root, 'templates'));
    const snapshots = new FakeSnapshots();
    const images = new FakeImages();
    const destroyed: string[] = [];
    /** What deps.idleForMs() answers: 0 while a deployment runs. */
    const idle = { ms: 1e9 };
    const runRoot = path.join(root, 'run');
    const instancesDir = path.join(root, 'instances');
    const manager = new TemplateManager({
      store, snapshots, hypervisor: 'qemu', images,
      destroyDomain: async (name) => {
        destroyed.push(name);
      },
      runRoot, instancesDir,
      idleForMs: () => idle.ms,
      clock: systemClock,
      logger: silentLogger(),
      settings: { maxCount: 8, idleQuietMs: 20, retryAfterMs: 60_000, ...settings },
    });
    cleanup.push(async () => {
      await manager.close();
      await rm(root, { recursive: true, force: true });
    });
    /** Commits a template of `shape` directly (as an earlier build would have). */
    const saved = async (shape: TemplateShape, lastUsedSecondsAgo?: number): Promise<string> => {
      const key = templateKey(shape);
      const files = await store.filesFor(key);
      await writeFile(files.state, Buffer.alloc(100));
      await writeFile(files.memory, Buffer.alloc(1000));
      await store.commit(shape, { state: digestOf(Buffer.alloc(100)), memory: digestOf(Buffer.alloc(1000)) }, Date.now(), 1);
      if (lastUsedSecondsAgo !== undefined) {
        const t = new Date(Date.now() - lastUsedSecondsAgo * 1000);
        await utimes(path.join(store.dir, key, 'template.json'), t, t);
      }
      return key;
    };
    return { root, store, snapshots, images, destroyed, idle, runRoot, instancesDir, manager, saved };
  }

  const spec = templatableSpec('vwn-bio-001', 1);
  const keyOf = (s: TemplateShape | undefined): string => templateKey(s!);

  describe('shapes', () => {
    it('a VM without a kernel and an initrd has no template shape, and asking for one does nothing', async () => {
      const t = await setup();
      expect(await t.manager.shapeOf(vmSpec('a', 1))).to.equal(undefined);
      expect(await t.manager.shapeOf(templatableSpec('a', 1, { initrd: undefined }))).to.equal(undefined);
      expect(await t.manager.shapeOf(templatableSpec('a', 1, { kernel: undefined }))).to.equal(undefined);
      await t.manager.want(vmSpec('a', 1));
      expect(t.manager.pending()).to.deep.equal([]);
      const r = await t.manager.find(vmSpec('a', 1));
      expect(r).to.deep.include({ reason: 'none' });
      expect(r.found === undefined && r.detail).to.contain('kernel and an initrd');
      await sleep(60);
      expect(t.snapshots.saves).to.have.length(0);
    });

    it('the shape is the images, the template command line, the size and the hypervisor build', async () => {
      const t = await setup();
      expect(await t.manager.shapeOf(spec)).to.deep.equal(templateShape());
      expect((await t.manager.shapeOf(spec))!.cmdline).to.contain(TEMPLATE_CMDLINE_FLAG);
    });
  });

  describe('building', () => {
    it('builds only once the host was idle for idleQuietMs, then restores from it', async () => {
      const t = await setup({ idleQuietMs: 100 });
      t.idle.ms = 0; // a deployment is running
      await t.manager.want(spec);
      const key = keyOf(await t.manager.shapeOf(spec));
      expect(t.manager.pending()).to.deep.equal([key]);
      await sleep(250);
      t.idle.ms = 50; // idle, but not for long enough
      await sleep(250);
      expect(t.snapshots.saves, 'no build while the host is busy').to.have.length(0);
      expect(await t.manager.find(spec)).to.deep.include({ reason: 'none' });

      t.idle.ms = 1e9;
      await until('a build', async () => (t.snapshots.saves.length > 0 ? true : undefined), 2000, 5);
      await t.manager.settled();
      expect(t.manager.pending()).to.deep.equal([]);
      expect(t.snapshots.saves).to.have.length(1);
      const found = await t.manager.find(spec);
      expect(found.key).to.equal(key);
      expect(found.found?.record.shape).to.deep.equal(templateShape());
      expect(found.found?.record).to.deep.include({ stateBytes: t.snapshots.stateBytes, memoryBytes: t.snapshots.memoryBytes });
      expect(found.found?.files).to.deep.equal({ state: path.join(t.store.dir, key, 'state.bin'), memory: path.join(t.store.dir, key, 'memory.bin') });
    });

    it('builds a guest that never joins the network, in its own overlay, and releases the images', async () => {
      const t = await setup();
      await t.manager.want(spec);
      await until('a build', async () => (t.snapshots.saves.length > 0 ? true : undefined), 2000, 5);
      await t.manager.settled();
      const key = keyOf(await t.manager.shapeOf(spec));
      const { config, files } = t.snapshots.saves[0]!;
      expect(config.name).to.equal(`${TEMPLATE_DOMAIN_PREFIX}${key.slice(0, 12)}`);
      expect(config.mac).to.equal(TEMPLATE_MAC);
      expect(config.cmdline).to.equal(templateShape().cmdline);
      expect(config).to.deep.include({ vcpus: spec.vcpus, memoryMb: spec.memoryMb, diskFormat: 'qcow2' });
      expect(config.diskPath).to.equal(path.join(t.instancesDir, `${config.name}.qcow2`));
      expect(config.runDir).to.equal(path.join(t.runRoot, config.name));
      expect(files).to.deep.equal({ state: path.join(t.store.dir, key, 'state.bin'), memory: path.join(t.store.dir, key, 'memory.bin') });
      expect(t.images.overlays.size, 'overlay released').to.equal(0);
      expect(t.images.pins.get('a'.repeat(64))).to.equal(0);
    });

    it('asks for each shape once, however many deployments want it', async () => {
      const t = await setup();
      t.idle.ms = 0;
      await t.manager.want(spec);
      await t.manager.want(templatableSpec('vwn-bio-002', 2));
      await t.manager.want(templatableSpec('vwn-bio-003', 3, { vcpus: 2 }));
      expect(t.manager.pending()).to.have.length(2);
      t.idle.ms = 1e9;
      await until('both builds', async () => (t.manager.pending().length === 0 ? true : undefined), 2000, 5);
      await t.manager.settled();
      expect(t.snapshots.saves).to.have.length(2);
      expect(await t.store.list()).to.have.length(2);
    });

    it('a deployment arriving aborts the build; it is tried again once the host is idle', async () => {
      const t = await setup();
      const key = keyOf(await t.manager.shapeOf(spec));
      t.snapshots.saveDelayMs = 10_000;
      await t.manager.want(spec);
      await until('a build', async () => (t.snapshots.saves.length > 0 ? true : undefined), 2000, 5);
      const during = await t.manager.find(spec);
      expect(during.found === undefined && during.detail).to.contain('being built');

      t.idle.ms = 0;
      t.manager.deploymentStarting();
      expect(t.snapshots.saves[0]!.signal?.aborted).to.equal(true);
      // The aborted build cleans up: no template, no half directory, still wanted.
      await until('the aborted build to clean up', async () => (!(await exists(path.join(t.store.dir, key))) ? true : undefined), 2000, 5);
      await until('the lookup to see no build', async () => {
        const r = await t.manager.find(spec);
        return r.found === undefined && !r.detail.includes('being built') ? r : undefined;
      }, 2000, 5);
      expect(t.manager.pending()).to.deep.equal([key]);
      expect(t.images.overlays.size).to.equal(0);
      await sleep(150);
      expect(t.snapshots.saves, 'not retried while the deployment runs').to.have.length(1);

      t.snapshots.saveDelayMs = 0;
      t.idle.ms = 1e9;
      await until('the retry', async () => (t.snapshots.saves.length > 1 ? true : undefined), 2000, 5);
      await t.manager.settled();
      expect((await t.manager.find(spec)).found?.record.key).to.equal(key);
    });

    it('a failed build is not retried before retryAfterMs, then is', async () => {
      const t = await setup({ idleQuietMs: 10, retryAfterMs: 300 });
      const key = keyOf(await t.manager.shapeOf(spec));
      t.snapshots.failSave = new Error('guest never said ready');
      await t.manager.want(spec);
      await until('a build', async () => (t.snapshots.saves.length > 0 ? true : undefined), 2000, 5);
      await sleep(150);
      expect(t.snapshots.saves).to.have.length(1);
      expect(await exists(path.join(t.store.dir, key)), 'the failed build left nothing').to.equal(false);
      expect(t.manager.pending()).to.deep.equal([key]);
      await t.manager.want(spec); // asking again does not skip the wait
      await sleep(50);
      expect(t.snapshots.saves).to.have.length(1);

      t.snapshots.failSave = undefined;
      await until('the retry', async () => (t.snapshots.saves.length > 1 ? true : undefined), 2500, 5);
      expect(t.snapshots.saves[1]!.atMs - t.snapshots.saves[0]!.atMs).to.be.at.least(290);
      await t.manager.settled();
      expect((await t.manager.find(spec)).found?.record.key).to.equal(key);
    });

    it('the wait after failures doubles', async () => {
      const t = await setup({ idleQuietMs: 0, retryAfterMs: 100 });
      t.snapshots.failSave = new Error('no');
      await t.manager.want(spec);
      await until('three attempts', async () => (t.snapshots.saves.length >= 3 ? true : undefined), 2500, 5);
      const [a, b, c] = t.snapshots.saves.map((s) => s.atMs);
      expect(b! - a!).to.be.at.least(95);
      expect(c! - b!).to.be.at.least(195);
      expect(await t.store.list()).to.deep.equal([]);
    });

    // One timer serves every shape: a later, sooner want() re-arms it, so a shape in back-off never delays another.
    it('a shape in back-off after a failed build does not hold up a build of another shape', async () => {
      const t = await setup({ idleQuietMs: 10, retryAfterMs: 5000 });
      t.snapshots.failSave = new Error('this appliance has no template point');
      await t.manager.want(spec);
      await until('the failed build', async () => (t.snapshots.saves.length > 0 ? true : undefined), 2000, 5);
      await sleep(50); // the failure is recorded and the retry armed
      t.snapshots.failSave = undefined;
      const other = templatableSpec('vwn-atlas-001', 2, { vo: 'atlas', disk: { url: 'http://127.0.0.1:1/atlas.qcow2', sha256: 'd'.repeat(64) } });
      await t.manager.want(other);
      await until('a build of the other shape', async () => ((await t.manager.find(other)).found ? true : undefined), 1500, 10);
    });
  });

  describe('lookups', () => {
    it('find deletes a refused template (wrong state size) and reports why', async () => {
      const t = await setup();
      const key = await t.saved(templateShape());
      await writeFile(path.join(t.store.dir, key, 'state.bin'), 'short');
      const r = await t.manager.find(spec);
      expect(r).to.deep.include({ reason: 'refused', key });
      expect(await exists(path.join(t.store.dir, key))).to.equal(false);
      expect(await t.manager.find(spec)).to.deep.include({ reason: 'none' });
    });

    it('find deletes a template whose memory file changed since the build', async () => {
      const t = await setup();
      const key = await t.saved(templateShape());
      await writeFile(path.join(t.store.dir, key, 'memory.bin'), Buffer.alloc(1000, 1));
      const r = await t.manager.find(spec);
      expect(r).to.deep.include({ reason: 'refused', key });
      expect(r.found === undefined && r.detail).to.contain('memory file');
      expect(await exists(path.join(t.store.dir, key))).to.equal(false);
    });

    it('invalidate deletes the template', async () => {
      const t = await setup();
      const key = await t.saved(templateShape());
      expect((await t.manager.find(spec)).found).to.not.equal(undefined);
      await t.manager.invalidate(key, 'restore failed');
      expect(await t.store.list()).to.deep.equal([]);
    });
  });

  describe('open', () => {
    it('removes template builds a crash left (vt-* domains and overlays) and nothing else', async () => {
      const t = await setup();
      await mkdir(path.join(t.runRoot, 'vt-0123456789ab'), { recursive: true });
      await mkdir(path.join(t.runRoot, 'vn-vwn-bio-001'), { recursive: true });
      await mkdir(t.instancesDir, { recursive: true });
      await writeFile(path.join(t.instancesDir, 'vt-0123456789ab.qcow2'), 'x');
      await writeFile(path.join(t.instancesDir, 'vn-vwn-bio-001.qcow2'), 'x');
      const unfinished = templateKey(templateShape({ vcpus: 2 }));
      await writeFile((await t.store.filesFor(unfinished)).state, 'half');
      const kept = await t.saved(templateShape());

      await t.manager.open();
      expect(t.destroyed).to.deep.equal(['vt-0123456789ab']);
      expect(await readdir(t.instancesDir)).to.deep.equal(['vn-vwn-bio-001.qcow2']);
      expect(await readdir(t.store.dir)).to.deep.equal([kept]);
    });

    it('deletes templates of another hypervisor build or kind, keeps the current ones', async () => {
      const t = await setup();
      const current = await t.saved(templateShape());
      await t.saved(templateShape({ hypervisorVersion: 'QEMU emulator version 6.2.0; machine pc; accel tcg' }));
      await t.saved(templateShape({ hypervisor: 'libvirt' }));
      expect(await t.store.list()).to.have.length(3);
      await t.manager.open();
      expect((await t.store.list()).map((r) => r.key)).to.deep.equal([current]);
      expect((await t.manager.find(spec)).found?.record.key).to.equal(current);
    });

    it('works on a fresh host (no run, instances or template directories)', async () => {
      const t = await setup();
      await t.manager.open();
      expect(t.destroyed).to.deep.equal([]);
      expect(await t.store.list()).to.deep.equal([]);
    });

    it('fails when the hypervisor build cannot be read (templates stay off)', async () => {
      const t = await setup();
      t.snapshots.failVersion = new Error('qemu --version failed');
      const err = await t.manager.open().then(() => undefined, (e: unknown) => e);
      expect((err as Error).message).to.contain('qemu --version failed');
    });
  });

  it('keeps at most maxCount templates, pruning the least recently used', async () => {
    const t = await setup({ maxCount: 2 });
    const specA = templatableSpec('vwn-bio-001', 1, { vcpus: 1 });
    const specB = templatableSpec('vwn-bio-002', 2, { vcpus: 2 });
    const specC = templatableSpec('vwn-bio-003', 3, { vcpus: 3 });
    const a = await t.saved((await t.manager.shapeOf(specA))!, 7200); // the oldest made...
    const b = await t.saved((await t.manager.shapeOf(specB))!, 3600);
    expect((await t.manager.find(specA)).found?.record.key, '...but used just now').to.equal(a);

    await t.manager.want(specC);
    await until('the build', async () => (t.manager.pending().length === 0 ? true : undefined), 2000, 5);
    await t.manager.settled();
    const c = keyOf(await t.manager.shapeOf(specC));
    const left = (await t.store.list()).map((r) => r.key);
    expect(left.sort()).to.deep.equal([a, c].sort());
    expect(await exists(path.join(t.store.dir, b))).to.equal(false);
  });

  it('close() stops a build in progress and takes no more requests', async () => {
    const t = await setup();
    t.snapshots.saveDelayMs = 10_000;
    await t.manager.want(spec);
    await until('a build', async () => (t.snapshots.saves.length > 0 ? true : undefined), 2000, 5);
    const started = Date.now();
    await t.manager.close();
    expect(Date.now() - started).to.be.below(2000);
    expect(t.snapshots.saves[0]!.signal?.aborted).to.equal(true);
    expect(await t.store.list()).to.deep.equal([]);
    await t.manager.want(templatableSpec('vwn-bio-002', 2, { vcpus: 2 }));
    await sleep(80);
    expect(t.snapshots.saves).to.have.length(1);
  });
});
