import { expect } from 'chai';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  ManifestError,
  MAX_PIECE_BYTES,
  MIN_PIECE_BYTES,
  parseManifest,
  pieceCount,
  pieceDigest,
  PieceHasher,
  pieceRange,
  type PieceManifest,
} from '../../../../../agent/images/pieces/piece-manifest.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random bytes (xorshift32), so a failing fast-check case replays the same image. */
function bytesOf(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Feeds `image` to a hasher in chunks of the given sizes, cycling through them (0-byte chunks included). */
function hashInChunks(image: Buffer, pieceBytes: number, chunkSizes: number[]): ReturnType<PieceHasher['finish']> {
  const h = new PieceHasher(pieceBytes);
  let at = 0;
  for (let k = 0; at < image.length; k++) {
    const n = chunkSizes.length > 0 ? chunkSizes[k % chunkSizes.length]! : image.length;
    // A run of zero sizes must not loop forever: take at least one byte every few chunks.
    const take = n === 0 && k % 4 === 3 ? 1 : n;
    h.update(image.subarray(at, at + take));
    at += take;
  }
  return h.finish();
}

/** The per-piece digests computed directly, piece by piece. */
function directPieces(image: Buffer, pieceBytes: number): string[] {
  const out: string[] = [];
  for (let start = 0; start < image.length; start += pieceBytes) out.push(sha(image.subarray(start, start + pieceBytes)));
  return out;
}

describe('agent/images/pieces/piece-manifest', () => {
  describe('PieceHasher', () => {
    it('property: gives the sha256 of the whole buffer and each piece\'s digest, whatever the chunk boundaries', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 2048 }),
          fc.integer({ min: 1, max: 20_000 }),
          fc.integer(),
          fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 12 }),
          (pieceBytes, size, seed, chunks) => {
            const image = bytesOf(size, seed);
            const { sha256, manifest } = hashInChunks(image, pieceBytes, chunks);
            expect(sha256).to.equal(sha(image));
            expect(manifest).to.deep.equal({ sha256, sizeBytes: size, pieceBytes, pieces: directPieces(image, pieceBytes) });
            expect(manifest.pieces).to.have.length(pieceCount(size, pieceBytes));
          },
        ),
        { numRuns: 200 },
      );
    });

    it('hashes 64 KiB pieces with a last short piece from chunks that straddle piece boundaries', () => {
      const image = bytesOf(3 * MIN_PIECE_BYTES + 12_345, 7);
      const { sha256, manifest } = hashInChunks(image, MIN_PIECE_BYTES, [40_000, 1, 65_535, 100_000]);
      expect(sha256).to.equal(sha(image));
      expect(manifest.pieces).to.have.length(4);
      expect(manifest.pieces).to.deep.equal(directPieces(image, MIN_PIECE_BYTES));
      expect(manifest.pieces[3]).to.equal(sha(image.subarray(3 * MIN_PIECE_BYTES)));
      expect(parseManifest(JSON.stringify(manifest), { sha256, sizeBytes: image.length })).to.deep.equal(manifest);
    });

    it('makes exactly N pieces of an image of exactly N pieces (no empty trailing piece), fed whole or byte-aligned to the pieces', () => {
      const image = bytesOf(4 * MIN_PIECE_BYTES, 11);
      for (const chunks of [[], [MIN_PIECE_BYTES], [2 * MIN_PIECE_BYTES], [MIN_PIECE_BYTES - 1, 1]]) {
        const { manifest } = hashInChunks(image, MIN_PIECE_BYTES, chunks);
        expect(manifest.pieces, JSON.stringify(chunks)).to.deep.equal(directPieces(image, MIN_PIECE_BYTES));
        expect(manifest.pieces).to.have.length(4);
      }
    });

    it('makes one piece of an image smaller than a piece, and agrees with pieceDigest', () => {
      const image = bytesOf(1000, 3);
      const { sha256, manifest } = hashInChunks(image, MIN_PIECE_BYTES, [1]);
      expect(manifest.pieces).to.deep.equal([sha256]);
      expect(pieceDigest(image)).to.equal(sha256);
    });
  });

  describe('pieceCount and pieceRange', () => {
    it('cover the image exactly, the last piece short', () => {
      const m = { sizeBytes: 2 * MIN_PIECE_BYTES + 10, pieceBytes: MIN_PIECE_BYTES };
      expect(pieceCount(m.sizeBytes, m.pieceBytes)).to.equal(3);
      expect(pieceCount(2 * MIN_PIECE_BYTES, MIN_PIECE_BYTES)).to.equal(2);
      expect([0, 1, 2].map((i) => pieceRange(m, i))).to.deep.equal([
        { start: 0, end: MIN_PIECE_BYTES },
        { start: MIN_PIECE_BYTES, end: 2 * MIN_PIECE_BYTES },
        { start: 2 * MIN_PIECE_BYTES, end: 2 * MIN_PIECE_BYTES + 10 },
      ]);
    });
  });

  describe('parseManifest', () => {
    const image = bytesOf(2 * MIN_PIECE_BYTES + 100, 5);
    const good: PieceManifest = hashInChunks(image, MIN_PIECE_BYTES, []).manifest;
    const text = (over: Record<string, unknown>): string => JSON.stringify({ ...good, ...over });
    const refusal = (t: string, expectSize?: number): ManifestError => {
      try {
        parseManifest(t, { sha256: good.sha256, ...(expectSize !== undefined ? { sizeBytes: expectSize } : {}) });
      } catch (e) {
        expect(e).to.be.instanceOf(ManifestError);
        return e as ManifestError;
      }
      return expect.fail(`accepted ${t.slice(0, 120)}`);
    };

    it('accepts a manifest for the image asked for, with or without the request\'s size (0 means not named)', () => {
      expect(parseManifest(JSON.stringify(good), { sha256: good.sha256 })).to.deep.equal(good);
      expect(parseManifest(JSON.stringify(good), { sha256: good.sha256, sizeBytes: good.sizeBytes })).to.deep.equal(good);
      expect(parseManifest(JSON.stringify(good), { sha256: good.sha256, sizeBytes: 0 })).to.deep.equal(good);
    });

    it('accepts the largest and smallest piece sizes', () => {
      const one = { sha256: good.sha256, sizeBytes: 10, pieces: [good.pieces[0]] };
      expect(parseManifest(JSON.stringify({ ...one, pieceBytes: MIN_PIECE_BYTES }), { sha256: good.sha256 }).pieceBytes).to.equal(MIN_PIECE_BYTES);
      expect(parseManifest(JSON.stringify({ ...one, pieceBytes: MAX_PIECE_BYTES }), { sha256: good.sha256 }).pieceBytes).to.equal(MAX_PIECE_BYTES);
    });

    it('refuses a manifest for another image', () => {
      expect(refusal(text({ sha256: 'e'.repeat(64) })).message).to.match(/is for image e{64}, not/);
    });

    it('refuses a manifest whose size differs from the request\'s', () => {
      expect(refusal(JSON.stringify(good), good.sizeBytes + 1).message).to.match(/says \d+ bytes; the request says \d+/);
    });

    it('refuses a piece count that does not match the size and piece size', () => {
      expect(refusal(text({ pieces: good.pieces.slice(0, 2) })).message).to.match(/lists 2 pieces; .* make 3/);
      expect(refusal(text({ pieces: [...good.pieces, good.pieces[0]] })).message).to.match(/lists 4 pieces/);
      expect(refusal(text({ sizeBytes: 2 * MIN_PIECE_BYTES })).message).to.match(/lists 3 pieces; .* make 2/);
      expect(refusal(text({ pieceBytes: 2 * MIN_PIECE_BYTES })).message).to.match(/make 2/);
    });

    const badPieceSizes: Array<[string, unknown]> = [
      ['not a multiple of 64 KiB', MIN_PIECE_BYTES + 1],
      ['not a multiple of 64 KiB (100000)', 100_000],
      ['below 64 KiB', 32 * 1024],
      ['zero', 0],
      ['negative', -MIN_PIECE_BYTES],
      ['above 64 MiB', MAX_PIECE_BYTES + MIN_PIECE_BYTES],
      ['not an integer', MIN_PIECE_BYTES + 0.5],
      ['a string', String(MIN_PIECE_BYTES)],
    ];
    for (const [why, pieceBytes] of badPieceSizes) {
      it(`refuses a piece size ${why}`, () => {
        expect(refusal(text({ pieceBytes })).message).to.match(/pieceBytes/);
      });
    }

    const badHex: Array<[string, Record<string, unknown>]> = [
      ['an upper-case image sha256', { sha256: good.sha256.toUpperCase() }],
      ['a 63-digit image sha256', { sha256: good.sha256.slice(1) }],
      ['a non-hex piece entry', { pieces: [good.pieces[0], 'g'.repeat(64), good.pieces[2]] }],
      ['an upper-case piece entry', { pieces: [good.pieces[0], good.pieces[1]!.toUpperCase(), good.pieces[2]] }],
      ['a 65-digit piece entry', { pieces: [good.pieces[0], `${good.pieces[1]}0`, good.pieces[2]] }],
      ['a piece entry with a newline', { pieces: [good.pieces[0], `${good.pieces[1]}\n`, good.pieces[2]] }],
      ['a number as a piece entry', { pieces: [good.pieces[0], 42, good.pieces[2]] }],
    ];
    for (const [why, over] of badHex) {
      it(`refuses ${why}`, () => {
        expect(refusal(text(over)).message).to.match(/invalid/);
      });
    }

    const badShape: Array<[string, string]> = [
      ['an extra key', text({ signature: 'x' })],
      ['a missing key', JSON.stringify({ sha256: good.sha256, sizeBytes: good.sizeBytes, pieceBytes: good.pieceBytes })],
      ['a size of 0', text({ sizeBytes: 0, pieces: [] })],
      ['a negative size', text({ sizeBytes: -1 })],
      ['a fractional size', text({ sizeBytes: good.sizeBytes + 0.5 })],
      ['a size as a string', text({ sizeBytes: String(good.sizeBytes) })],
      ['an empty piece list', text({ pieces: [] })],
      ['pieces that are not a list', text({ pieces: good.pieces.join(',') })],
      ['a JSON array', JSON.stringify([good])],
      ['JSON null', 'null'],
      ['a JSON number', '42'],
    ];
    for (const [why, t] of badShape) {
      it(`refuses ${why}`, () => {
        expect(refusal(t).message).to.match(/the piece manifest is invalid/);
      });
    }

    for (const t of ['', '{', 'not json', `${JSON.stringify(good)} trailing`, '{\'sha256\': 1}']) {
      it(`refuses non-JSON ${JSON.stringify(t.slice(0, 20))}`, () => {
        expect(refusal(t).message).to.equal('the piece manifest is not JSON');
      });
    }

    it('refuses a size beyond what a manifest may make the agent allocate', () => {
      const huge = 163_840 * MAX_PIECE_BYTES + 1;
      expect(refusal(text({ sizeBytes: huge })).message).to.match(/sizeBytes/);
    });
  });
});
