import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseManifest, pieceDigest, pieceRange, type PieceManifest } from '../../../../agent/images/pieces/piece-manifest.js';
import { vonode } from '../../../helpers/run-vonode-cli.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Every piece digest of `m` is the sha256 of its byte range of `image`. */
function expectPiecesMatch(m: PieceManifest, image: Buffer): void {
  expect(m.pieces).to.have.length(Math.ceil(image.length / m.pieceBytes));
  m.pieces.forEach((digest, i) => {
    const { start, end } = pieceRange(m, i);
    expect(digest, `piece ${i}`).to.equal(pieceDigest(image.subarray(start, end)));
  });
}

// The real CLI (spawned from source), offline: no coordinator runs anywhere in this file.
describe('vonode image-manifest (spawned, offline)', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'vonode-image-manifest-'))));
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  /** Writes an image of `size` random bytes into the test directory. */
  async function image(name: string, size: number): Promise<{ file: string; bytes: Buffer }> {
    const bytes = randomBytes(size);
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return { file, bytes };
  }

  it('writes FILE.pieces.json that parses against the real sha256, with matching piece digests, and prints the policy line', async () => {
    const { file, bytes } = await image('bio.qcow2', 1024 * 1024 + 4321);
    const r = await vonode(['image-manifest', file]);
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.equal('');
    const real = sha256(bytes);
    const m = parseManifest(await readFile(`${file}.pieces.json`, 'utf8'), { sha256: real, sizeBytes: bytes.length });
    expect(m.pieceBytes).to.equal(1024 * 1024);
    expect(m.pieces).to.have.length(2);
    expectPiecesMatch(m, bytes);
    expect(r.out).to.include(file);
    expect(r.out).to.match(new RegExp(`^ +size +${bytes.length} bytes`, 'm'));
    expect(r.out).to.match(new RegExp(`^ +sha256 +${real}$`, 'm'));
    expect(r.out).to.match(/^ +piece size +1MiB$/m);
    expect(r.out).to.match(/^ +pieces +2$/m);
    expect(r.out).to.match(new RegExp(`^ +sha256: ${real}$`, 'm'));
    // Written atomically: no temporary file left beside it.
    expect((await readdir(dir)).sort()).to.deep.equal(['bio.qcow2', 'bio.qcow2.pieces.json']);
  });

  it('--piece-size 64KiB gives ceil(size / 65536) pieces, and rewrites an existing manifest', async () => {
    const { file, bytes } = await image('fusion.img', 7 * 65536 + 1);
    await writeFile(`${file}.pieces.json`, 'stale');
    const r = await vonode(['image-manifest', '--piece-size', '64KiB', file]);
    expect(r.code, r.err).to.equal(0);
    const m = parseManifest(await readFile(`${file}.pieces.json`, 'utf8'), { sha256: sha256(bytes), sizeBytes: bytes.length });
    expect(m.pieceBytes).to.equal(65536);
    expect(m.pieces).to.have.length(Math.ceil(bytes.length / 65536)).and.to.have.length(8);
    expectPiecesMatch(m, bytes);
    expect(r.out).to.match(/^ +pieces +8$/m);
  });

  it('--json prints one { file, manifest, sha256, sizeBytes, pieceBytes, pieces } per file', async () => {
    const a = await image('a.qcow2', 300_000);
    const b = await image('b.qcow2', 65536);
    const r = await vonode(['image-manifest', a.file, b.file, '--piece-size', '256KiB', '--json']);
    expect(r.code, r.err).to.equal(0);
    const out = JSON.parse(r.out) as unknown;
    expect(out).to.deep.equal([
      { file: a.file, manifest: `${a.file}.pieces.json`, sha256: sha256(a.bytes), sizeBytes: 300_000, pieceBytes: 262_144, pieces: 2 },
      { file: b.file, manifest: `${b.file}.pieces.json`, sha256: sha256(b.bytes), sizeBytes: 65536, pieceBytes: 262_144, pieces: 1 },
    ]);
    for (const { file, bytes } of [a, b]) {
      expectPiecesMatch(parseManifest(await readFile(`${file}.pieces.json`, 'utf8'), { sha256: sha256(bytes) }), bytes);
    }
  });

  for (const size of ['3MB', '100KiB', '32KiB', '128MiB', '0', 'lots']) {
    it(`refuses --piece-size ${size} with a usage error and writes nothing`, async () => {
      const { file } = await image('bio.qcow2', 100_000);
      const r = await vonode(['image-manifest', file, '--piece-size', size]);
      expect(r.code).to.equal(2);
      expect(r.err).to.include(`vonode: --piece-size takes a multiple of 64KiB from 64KiB to 64MiB (like 4MiB or 256KiB), not "${size}"`);
      expect(r.out).to.equal('');
      expect(await readdir(dir)).to.deep.equal(['bio.qcow2']);
    });
  }

  it('a missing file, a directory and an empty file: exit 1 naming each with what to do; nothing written for them, the good file still done', async () => {
    const good = await image('good.qcow2', 70_000);
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'empty.img'), '');
    const missing = path.join(dir, 'missing.qcow2');
    const r = await vonode(['image-manifest', missing, path.join(dir, 'sub'), path.join(dir, 'empty.img'), good.file]);
    expect(r.code).to.equal(1);
    expect(r.err).to.include(`vonode: ${missing}: no such file: check the path`);
    expect(r.err).to.include(`vonode: ${path.join(dir, 'sub')}: a directory: pass the image file itself`);
    expect(r.err).to.include(`vonode: ${path.join(dir, 'empty.img')}: empty:`);
    expect(r.err).to.include(`no manifest written for 3 of 4 files: ${missing}, ${path.join(dir, 'sub')}, ${path.join(dir, 'empty.img')}`);
    expect((await readdir(dir)).sort()).to.deep.equal(['empty.img', 'good.qcow2', 'good.qcow2.pieces.json', 'sub']);
    expect(await readdir(path.join(dir, 'sub'))).to.deep.equal([]);
    parseManifest(await readFile(`${good.file}.pieces.json`, 'utf8'), { sha256: sha256(good.bytes) });
  });

  it('a missing file alone: exit 1, a message, no file written', async () => {
    const missing = path.join(dir, 'nope.qcow2');
    const r = await vonode(['image-manifest', missing]);
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/^vonode: .*nope\.qcow2: no such file: check the path/m);
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('refuses a manifest passed as an image', async () => {
    const { file } = await image('bio.qcow2', 1000);
    await writeFile(`${file}.pieces.json`, '{}');
    const r = await vonode(['image-manifest', `${file}.pieces.json`]);
    expect(r.code).to.equal(1);
    expect(r.err).to.include(`a piece manifest, not an image: pass the image (${file})`);
    expect(await readFile(`${file}.pieces.json`, 'utf8')).to.equal('{}');
    expect((await readdir(dir)).sort()).to.deep.equal(['bio.qcow2', 'bio.qcow2.pieces.json']);
  });
});
