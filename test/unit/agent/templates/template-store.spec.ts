import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { templateKey, type TemplateShape } from '../../../../agent/templates/template-key.js';
import { TemplateStore, type TemplateRecord } from '../../../../agent/templates/template-store.js';
import { tempDir, templateShape } from '../../../helpers/agent-fakes.js';

/** Saves a template of `shape` as a build would: state and memory files, then the record. */
async function save(store: TemplateStore, shape: TemplateShape, state = Buffer.alloc(1000, 7), memory = Buffer.alloc(64 * 1024, 9)): Promise<TemplateRecord> {
  const files = await store.filesFor(templateKey(shape));
  await writeFile(files.state, state);
  await writeFile(files.memory, memory);
  return store.commit(shape, { state: digestOf(state), memory: digestOf(memory) }, 1_700_000_000_000, 1234.5);
}

const digestOf = (b: Buffer): { bytes: number; sha256: string } => ({ bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

describe('agent/templates/TemplateStore', () => {
  let dir: string;
  let store: TemplateStore;
  beforeEach(async () => {
    dir = path.join(await tempDir('vonode-tpl-'), 'templates');
    store = new TemplateStore(dir);
  });
  afterEach(async () => {
    await rm(path.dirname(dir), { recursive: true, force: true });
  });

  it('filesFor creates the key\'s directory and names its state and memory files', async () => {
    const key = templateKey(templateShape());
    const files = await store.filesFor(key);
    expect(files).to.deep.equal({ state: path.join(dir, key, 'state.bin'), memory: path.join(dir, key, 'memory.bin') });
    expect((await stat(path.join(dir, key))).isDirectory()).to.equal(true);
  });

  it('commit writes the record beside the files; find returns both', async () => {
    const s = templateShape();
    const record = await save(store, s);
    expect(record).to.deep.equal({
      key: templateKey(s), shape: s,
      stateBytes: 1000, stateSha256: digestOf(Buffer.alloc(1000, 7)).sha256,
      memoryBytes: 65536, memorySha256: digestOf(Buffer.alloc(65536, 9)).sha256,
      createdUnixMs: 1_700_000_000_000, buildMs: 1234.5,
    });
    expect(JSON.parse(await readFile(path.join(dir, record.key, 'template.json'), 'utf8'))).to.deep.equal(record);
    const found = await store.find(s);
    expect(found.found).to.deep.equal({ record, files: { state: path.join(dir, record.key, 'state.bin'), memory: path.join(dir, record.key, 'memory.bin') } });
  });

  it('finds nothing (reason none) before a template is committed, even with its state file written', async () => {
    const s = templateShape();
    await writeFile((await store.filesFor(templateKey(s))).state, 'partial');
    const r = await store.find(s);
    expect(r.found).to.equal(undefined);
    expect(r).to.deep.include({ reason: 'none' });
  });

  it('never finds a template saved under another QEMU version (another key)', async () => {
    await save(store, templateShape());
    const r = await store.find(templateShape({ hypervisorVersion: 'QEMU emulator version 8.2.0; machine pc; accel tcg' }));
    expect(r.found).to.equal(undefined);
    expect(r).to.deep.include({ reason: 'none' });
  });

  it('refuses a record made for another shape under the key (a tampered or hand-edited directory)', async () => {
    const want = templateShape();
    const key = templateKey(want);
    await save(store, want);
    // Same key and directory, but the record says it was saved by another QEMU build.
    const file = path.join(dir, key, 'template.json');
    const record = JSON.parse(await readFile(file, 'utf8')) as TemplateRecord;
    await writeFile(file, JSON.stringify({ ...record, shape: { ...record.shape, hypervisorVersion: 'QEMU emulator version 6.0.0' } }));
    const r = await store.find(want);
    expect(r.found).to.equal(undefined);
    expect(r).to.deep.include({ reason: 'refused' });
    expect(r.found === undefined && r.detail).to.contain('another shape').and.contain('hypervisorVersion').and.contain('6.0.0');
  });

  it('refuses a record of another memory size under the key', async () => {
    const want = templateShape();
    await save(store, want);
    const file = path.join(dir, templateKey(want), 'template.json');
    const record = JSON.parse(await readFile(file, 'utf8')) as TemplateRecord;
    await writeFile(file, JSON.stringify({ ...record, shape: { ...record.shape, memoryMb: 512 } }));
    const r = await store.find(want);
    expect(r).to.deep.include({ reason: 'refused' });
    expect(r.found === undefined && r.detail).to.contain('memoryMb');
  });

  it('refuses a state file of the wrong size (truncated or grown)', async () => {
    const s = templateShape();
    const record = await save(store, s);
    await writeFile(path.join(dir, record.key, 'state.bin'), Buffer.alloc(999));
    const r = await store.find(s);
    expect(r).to.deep.include({ reason: 'refused' });
    expect(r.found === undefined && r.detail).to.contain('999 bytes').and.contain('says 1000');
    await writeFile(path.join(dir, record.key, 'state.bin'), Buffer.alloc(1001));
    expect(await store.find(s)).to.deep.include({ reason: 'refused' });
  });

  it('refuses a template whose state file is missing', async () => {
    const s = templateShape();
    const record = await save(store, s);
    await rm(path.join(dir, record.key, 'state.bin'));
    const r = await store.find(s);
    expect(r).to.deep.include({ reason: 'refused' });
    expect(r.found === undefined && r.detail).to.contain('-1 bytes');
  });

  it('finds a template for another VO of the same appliance (the VO is not part of the shape)', async () => {
    await save(store, templateShape({ vo: 'bio' }));
    const r = await store.find(templateShape({ vo: 'atlas' }));
    expect(r.found?.record.shape.vo).to.equal('bio');
  });

  it('treats a record that fails validation as absent', async () => {
    const s = templateShape();
    const record = await save(store, s);
    await writeFile(path.join(dir, record.key, 'template.json'), JSON.stringify({ ...record, stateSha256: 'not-hex' }));
    expect(await store.find(s)).to.deep.include({ reason: 'none' });
    await writeFile(path.join(dir, record.key, 'template.json'), '{ half');
    expect(await store.find(s)).to.deep.include({ reason: 'none' });
  });

  it('remove deletes the template and refuses anything that is not a key', async () => {
    const s = templateShape();
    const record = await save(store, s);
    await store.remove(record.key);
    expect(await exists(path.join(dir, record.key))).to.equal(false);
    await store.remove(record.key); // idempotent
    for (const bad of ['..', '../etc', '', 'A'.repeat(32), record.key + '0']) {
      const err = await store.remove(bad).then(() => undefined, (e: unknown) => e);
      expect(err, bad).to.be.instanceOf(Error);
      expect((err as Error).message).to.contain('not a template key');
    }
  });

  it('sweepIncomplete removes directories without a valid record and keeps the rest', async () => {
    const good = await save(store, templateShape());
    const died = templateKey(templateShape({ vcpus: 2 }));
    await writeFile((await store.filesFor(died)).state, 'half a state');
    const garbled = templateKey(templateShape({ vcpus: 3 }));
    await store.filesFor(garbled);
    await writeFile(path.join(dir, garbled, 'template.json'), 'not json');
    // A whole directory copied under another key: its record names the old key.
    const copied = templateKey(templateShape({ vcpus: 4 }));
    await mkdir(path.join(dir, copied));
    await writeFile(path.join(dir, copied, 'template.json'), await readFile(path.join(dir, good.key, 'template.json')));
    await mkdir(path.join(dir, 'not-a-template'));

    const swept = await store.sweepIncomplete();
    expect(swept.sort()).to.deep.equal([died, garbled, copied].sort());
    expect((await readdir(dir)).sort()).to.deep.equal([good.key, 'not-a-template'].sort());
    expect((await store.find(templateShape())).found?.record).to.deep.equal(good);
  });

  it('sweepIncomplete and list cope with a store directory that does not exist yet', async () => {
    expect(await store.sweepIncomplete()).to.deep.equal([]);
    expect(await store.list()).to.deep.equal([]);
  });

  it('list returns valid templates, most recently used first; find counts as a use', async () => {
    const a = await save(store, templateShape({ vcpus: 1 }));
    const b = await save(store, templateShape({ vcpus: 2 }));
    const c = await save(store, templateShape({ vcpus: 3 }));
    await store.filesFor(templateKey(templateShape({ vcpus: 4 }))); // incomplete: not listed
    const ago = (s: number): Date => new Date(Date.now() - s * 1000);
    await utimes(path.join(dir, a.key, 'template.json'), ago(300), ago(300));
    await utimes(path.join(dir, b.key, 'template.json'), ago(100), ago(100));
    await utimes(path.join(dir, c.key, 'template.json'), ago(200), ago(200));
    expect((await store.list()).map((t) => t.key)).to.deep.equal([b.key, c.key, a.key]);

    await store.find(templateShape({ vcpus: 1 }));
    const listed = await store.list();
    expect(listed.map((t) => t.key)).to.deep.equal([a.key, b.key, c.key]);
    expect(listed[0]!.lastUsedMs).to.be.within(Date.now() - 60_000, Date.now() + 1000);
    expect(listed[0]).to.deep.include(a);
  });

  it('a refused lookup does not count as a use', async () => {
    const s = templateShape();
    const record = await save(store, s);
    const file = path.join(dir, record.key, 'template.json');
    const old = new Date(Date.now() - 3600_000);
    await utimes(file, old, old);
    await writeFile(path.join(dir, record.key, 'state.bin'), 'short');
    await store.find(s);
    expect((await stat(file)).mtimeMs).to.be.closeTo(old.getTime(), 1000);
  });

  describe('the memory file', () => {
    const memoryOf = (key: string): string => path.join(dir, key, 'memory.bin');

    it('a template without its memory file is refused', async () => {
      const s = templateShape();
      const record = await save(store, s);
      await rm(memoryOf(record.key));
      const r = await store.find(s);
      expect(r).to.deep.include({ reason: 'refused' });
      expect(r.found === undefined && r.detail).to.contain('no memory file');
    });

    it('a memory file changed after the build (same size, other bytes) is refused', async () => {
      const s = templateShape();
      const record = await save(store, s);
      expect((await store.find(s)).found).to.not.equal(undefined);
      const ram = Buffer.alloc(64 * 1024, 9);
      ram[4096] = 0xff; // one flipped page
      await writeFile(memoryOf(record.key), ram);
      const r = await store.find(s);
      expect(r).to.deep.include({ reason: 'refused' });
      expect(r.found === undefined && r.detail).to.contain('memory file does not match its sha256');
    });

    it('a memory file of the wrong size is refused', async () => {
      const s = templateShape();
      const record = await save(store, s);
      await writeFile(memoryOf(record.key), Buffer.alloc(1024, 9));
      expect(await store.find(s)).to.deep.include({ reason: 'refused' });
    });

    it('a memory file put back as it was is accepted again (checked by content, not by stat alone)', async () => {
      const s = templateShape();
      const record = await save(store, s);
      await writeFile(memoryOf(record.key), Buffer.alloc(64 * 1024, 1));
      expect(await store.find(s)).to.deep.include({ reason: 'refused' });
      await writeFile(memoryOf(record.key), Buffer.alloc(64 * 1024, 9));
      expect((await store.find(s)).found?.record.key).to.equal(record.key);
    });

    it('another agent process (a new store) checks the memory file once before trusting it', async () => {
      const s = templateShape();
      const record = await save(store, s);
      // Intact: the new store hashes it and finds it.
      expect((await new TemplateStore(dir).find(s)).found?.record.key).to.equal(record.key);
      // Corrupted while the agent was down: the new store refuses it.
      await writeFile(memoryOf(record.key), Buffer.alloc(64 * 1024, 2));
      const fresh = new TemplateStore(dir);
      const r = await fresh.find(s);
      expect(r).to.deep.include({ reason: 'refused' });
      expect(r.found === undefined && r.detail).to.contain('memory file');
    });

    it('a template removed and saved again under the same key is checked anew', async () => {
      const s = templateShape();
      const first = await save(store, s);
      await store.remove(first.key);
      const second = await save(store, s, Buffer.alloc(1000, 7), Buffer.alloc(64 * 1024, 5));
      expect(second.memorySha256).to.not.equal(first.memorySha256);
      expect((await store.find(s)).found?.record.memorySha256).to.equal(second.memorySha256);
    });
  });
});
