import { expect } from 'chai';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIN_PIECE_BYTES, PieceHasher, type PieceManifest } from '../../../../../agent/images/pieces/piece-manifest.js';
import { CorruptPieceError, PieceStore } from '../../../../../agent/images/pieces/piece-store.js';
import { tempDir } from '../../../../helpers/agent-fakes.js';

const PIECE = MIN_PIECE_BYTES;

/** Deterministic pseudo-random bytes. */
function bytesOf(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed | 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function manifestOf(image: Buffer, pieceBytes = PIECE): PieceManifest {
  const h = new PieceHasher(pieceBytes);
  h.update(image);
  return h.finish().manifest;
}

// 3.5 pieces: the last one is short.
const IMAGE = bytesOf(3 * PIECE + PIECE / 2, 42);
const MANIFEST = manifestOf(IMAGE);
const piece = (i: number, image = IMAGE, pieceBytes = PIECE): Buffer => image.subarray(i * pieceBytes, Math.min((i + 1) * pieceBytes, image.length));
const rejection = (p: Promise<unknown>): Promise<Error> => p.then(() => expect.fail('expected a rejection'), (e: unknown) => e as Error);

describe('agent/images/pieces/PieceStore', () => {
  let dir: string;
  let n = 0;
  const open_: PieceStore[] = [];
  const paths = (): { data: string; record: string } => {
    n++;
    return { data: path.join(dir, `img${n}.data`), record: path.join(dir, `img${n}.pieces.json`) };
  };
  const openStore = async (m: PieceManifest, p: { data: string; record: string }): Promise<PieceStore> => {
    const s = await PieceStore.open(m, p.data, p.record);
    open_.push(s);
    return s;
  };

  before(async () => {
    dir = await tempDir('vonode-piece-store-');
  });
  afterEach(async () => {
    for (const s of open_.splice(0)) await s.close();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('starts empty, with a data file sized to the image', async () => {
    const p = paths();
    const s = await openStore(MANIFEST, p);
    expect(s.pieceCount).to.equal(4);
    expect(s.verifiedCount).to.equal(0);
    expect(s.verifiedBytes()).to.equal(0);
    expect(s.complete).to.equal(false);
    expect(s.missing()).to.deep.equal([0, 1, 2, 3]);
    expect(s.pieceLength(3)).to.equal(PIECE / 2);
    expect((await stat(p.data)).size).to.equal(IMAGE.length);
  });

  it('refuses bytes that do not hash to the piece\'s entry with CorruptPieceError, recording and writing nothing', async () => {
    const p = paths();
    const s = await openStore(MANIFEST, p);
    const wrong = Buffer.from(piece(1));
    wrong[100] = wrong[100]! ^ 0xff;
    const err = await rejection(s.write(1, wrong, 'phys-07'));
    expect(err).to.be.instanceOf(CorruptPieceError);
    expect((err as CorruptPieceError).index).to.equal(1);
    expect(err.message).to.match(/piece 1 from phys-07/);
    // Another piece's (valid) bytes at this index are just as wrong.
    expect(await rejection(s.write(1, piece(2), 'phys-07'))).to.be.instanceOf(CorruptPieceError);
    expect(s.has(1)).to.equal(false);
    expect(s.verifiedCount).to.equal(0);
    expect(await rejection(s.read(1))).to.match(/not verified/);
    const onDisk = await readFile(p.data);
    expect(onDisk.subarray(PIECE, 2 * PIECE).equals(Buffer.alloc(PIECE))).to.equal(true);
  });

  it('refuses a piece of the wrong length (one byte short, one byte long, a full-size last piece)', async () => {
    const s = await openStore(MANIFEST, paths());
    expect(await rejection(s.write(0, piece(0).subarray(0, PIECE - 1), 'x'))).to.be.instanceOf(CorruptPieceError);
    expect(await rejection(s.write(0, Buffer.concat([piece(0), Buffer.alloc(1)]), 'x'))).to.be.instanceOf(CorruptPieceError);
    expect(await rejection(s.write(3, Buffer.concat([piece(3), Buffer.alloc(PIECE / 2)]), 'x'))).to.be.instanceOf(CorruptPieceError);
    expect(s.verifiedCount).to.equal(0);
  });

  it('records verified pieces written out of order and then gives the image\'s sha256 as the whole digest', async () => {
    const s = await openStore(MANIFEST, paths());
    for (const i of [3, 1, 0, 2]) {
      await s.write(i, piece(i), 'repository');
      expect(s.has(i)).to.equal(true);
    }
    expect(s.complete).to.equal(true);
    expect(s.missing()).to.deep.equal([]);
    expect(s.verifiedBytes()).to.equal(IMAGE.length);
    expect(await s.wholeDigest()).to.equal(MANIFEST.sha256);
    for (let i = 0; i < 4; i++) expect((await s.read(i)).equals(piece(i))).to.equal(true);
  });

  it('property: any order of writes (concurrent ones included) yields the image\'s sha256', async () => {
    const image = bytesOf(5 * PIECE + 17, 9);
    const m = manifestOf(image);
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6, maxLength: 6 }), fc.boolean(), async (order, together) => {
        const p = paths();
        const s = await PieceStore.open(m, p.data, p.record);
        try {
          if (together) await Promise.all(order.map((i) => s.write(i, piece(i, image), 'p')));
          else for (const i of order) await s.write(i, piece(i, image), 'p');
          expect(await s.wholeDigest()).to.equal(m.sha256);
        } finally {
          await s.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it('refuses the whole digest before every piece is verified', async () => {
    const s = await openStore(MANIFEST, paths());
    await s.write(0, piece(0), 'p');
    expect(await rejection(s.wholeDigest())).to.match(/not complete/);
  });

  it('ignores a second write of a verified piece', async () => {
    const s = await openStore(MANIFEST, paths());
    await s.write(2, piece(2), 'p');
    await s.write(2, piece(2), 'p');
    await s.write(2, Buffer.alloc(3), 'p');
    expect(s.verifiedCount).to.equal(1);
    expect((await s.read(2)).equals(piece(2))).to.equal(true);
  });

  describe('waitFor', () => {
    it('resolves true at once for a verified piece, and true when a missing piece is written later', async () => {
      const s = await openStore(MANIFEST, paths());
      await s.write(0, piece(0), 'p');
      expect(await s.waitFor(0, 0)).to.equal(true);
      const waiting = s.waitFor(2, 60_000);
      const other = s.waitFor(2, 60_000);
      await s.write(1, piece(1), 'p');
      await s.write(2, piece(2), 'p');
      expect(await Promise.all([waiting, other])).to.deep.equal([true, true]);
    });

    it('resolves false when the piece does not come in time (a corrupt copy does not count)', async () => {
      const s = await openStore(MANIFEST, paths());
      const waiting = s.waitFor(1, 5);
      await rejection(s.write(1, piece(2), 'p'));
      expect(await waiting).to.equal(false);
    });

    it('resolves false for every waiter when the store is closed, and at once after', async () => {
      const p = paths();
      const s = await PieceStore.open(MANIFEST, p.data, p.record);
      const waiting = [s.waitFor(1, 60_000), s.waitFor(1, 60_000), s.waitFor(3, 60_000)];
      await s.close();
      expect(await Promise.all(waiting)).to.deep.equal([false, false, false]);
      expect(await s.waitFor(2, 60_000)).to.equal(false);
      await s.close(); // twice is fine
    });
  });

  describe('reopening', () => {
    it('keeps the verified pieces after close(): missing() lists only the rest, and the download completes to the right digest', async () => {
      const p = paths();
      const first = await PieceStore.open(MANIFEST, p.data, p.record);
      await first.write(0, piece(0), 'p');
      await first.write(2, piece(2), 'p');
      await first.close();
      const again = await openStore(MANIFEST, p);
      expect(again.verifiedCount).to.equal(2);
      expect(again.missing()).to.deep.equal([1, 3]);
      expect((await again.read(2)).equals(piece(2))).to.equal(true);
      await again.write(3, piece(3), 'p');
      await again.write(1, piece(1), 'p');
      expect(await again.wholeDigest()).to.equal(MANIFEST.sha256);
    });

    it('drops a recorded piece whose bytes on disk were changed', async () => {
      const p = paths();
      const first = await PieceStore.open(MANIFEST, p.data, p.record);
      for (const i of [0, 1, 2]) await first.write(i, piece(i), 'p');
      await first.close();
      const fh = await open(p.data, 'r+');
      await fh.write(Buffer.from('tampered'), 0, 8, PIECE + 1000);
      await fh.close();
      const again = await openStore(MANIFEST, p);
      expect(again.missing()).to.deep.equal([1, 3]);
      expect(again.has(0)).to.equal(true);
      expect(again.has(2)).to.equal(true);
      // The record now says so too.
      await again.close();
      expect((JSON.parse(await readFile(p.record, 'utf8')) as { have: number[] }).have).to.deep.equal([0, 2]);
    });

    it('drops a recorded piece that never reached the disk (data file shorter than the record says)', async () => {
      const p = paths();
      const first = await PieceStore.open(MANIFEST, p.data, p.record);
      for (const i of [0, 3]) await first.write(i, piece(i), 'p');
      await first.close();
      await writeFile(p.data, ''); // the data lost, the record kept
      const again = await openStore(MANIFEST, p);
      expect(again.missing()).to.deep.equal([0, 1, 2, 3]);
      expect((await stat(p.data)).size).to.equal(IMAGE.length);
    });

    it('discards a record (and its data) made for another manifest of the image', async () => {
      const p = paths();
      const first = await PieceStore.open(MANIFEST, p.data, p.record);
      await first.write(0, piece(0), 'p');
      await first.write(1, piece(1), 'p');
      await first.close();
      const bigger = manifestOf(IMAGE, 2 * PIECE); // same image, 128 KiB pieces: piece 0 covers the bytes already there
      const again = await openStore(bigger, p);
      expect(again.verifiedCount).to.equal(0);
      expect(again.missing()).to.deep.equal([0, 1]);
      const onDisk = await readFile(p.data);
      expect(onDisk.length).to.equal(IMAGE.length);
      expect(onDisk.equals(Buffer.alloc(IMAGE.length))).to.equal(true);
    });

    it('discards a record whose manifest lists other piece digests or is for another image', async () => {
      const p = paths();
      const first = await PieceStore.open(MANIFEST, p.data, p.record);
      await first.write(0, piece(0), 'p');
      await first.close();
      const saved = JSON.parse(await readFile(p.record, 'utf8')) as { manifest: PieceManifest; have: number[] };
      expect(saved.have).to.deep.equal([0]);
      const variants = [
        { ...saved, manifest: { ...saved.manifest, pieces: [saved.manifest.pieces[1], ...saved.manifest.pieces.slice(1)] } },
        { ...saved, manifest: { ...saved.manifest, sha256: 'f'.repeat(64) } },
        { ...saved, manifest: 'not a manifest' },
      ];
      for (const v of variants) {
        // Restore the verified piece on disk each time: only the record decides.
        const again0 = await PieceStore.open(MANIFEST, p.data, p.record);
        await again0.write(0, piece(0), 'p');
        await again0.close();
        await writeFile(p.record, JSON.stringify(v));
        const again = await openStore(MANIFEST, p);
        expect(again.verifiedCount, JSON.stringify(v.manifest).slice(0, 60)).to.equal(0);
        await again.close();
      }
    });

    it('ignores out-of-range and non-integer indices in a record', async () => {
      const p = paths();
      const first = await PieceStore.open(MANIFEST, p.data, p.record);
      await first.write(1, piece(1), 'p');
      await first.close();
      await writeFile(p.record, JSON.stringify({ manifest: MANIFEST, have: [-1, 1, 1.5, 4, 99, '2'] }));
      const again = await openStore(MANIFEST, p);
      expect(again.verifiedCount).to.equal(1);
      expect(again.missing()).to.deep.equal([0, 2, 3]);
    });

    it('forgets the record with discardRecord()', async () => {
      const p = paths();
      const s = await openStore(MANIFEST, p);
      await s.write(0, piece(0), 'p');
      await s.close();
      await s.discardRecord();
      expect(await stat(p.record).then(() => true, () => false)).to.equal(false);
      const again = await openStore(MANIFEST, p);
      expect(again.verifiedCount).to.equal(0);
    });
  });

  it('hashes the image as a whole like node:crypto does, reading what did not arrive in order from disk', async () => {
    const s = await openStore(MANIFEST, paths());
    for (const i of [1, 2, 3, 0]) await s.write(i, piece(i), 'p');
    expect(await s.wholeDigest()).to.equal(createHash('sha256').update(IMAGE).digest('hex'));
  });
});
