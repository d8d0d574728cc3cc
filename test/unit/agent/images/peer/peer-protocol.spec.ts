import { expect } from 'chai';
import fc from 'fast-check';
import { imagePath, MANIFEST_PATH_SUFFIX, MAX_RANGE_BYTES, parseImagePath, parseRange } from '../../../../../agent/images/peer/peer-protocol.js';

const SHA = '0123456789abcdef'.repeat(4);

describe('agent/images/peer/peer-protocol', () => {
  describe('parseImagePath', () => {
    it('accepts an image path and its manifest path, and round-trips imagePath()', () => {
      expect(parseImagePath(`/v1/images/${SHA}`)).to.deep.equal({ sha256: SHA, manifest: false });
      expect(parseImagePath(`/v1/images/${SHA}/manifest`)).to.deep.equal({ sha256: SHA, manifest: true });
      expect(parseImagePath(imagePath(SHA))).to.deep.equal({ sha256: SHA, manifest: false });
      expect(parseImagePath(imagePath(SHA) + MANIFEST_PATH_SUFFIX)).to.deep.equal({ sha256: SHA, manifest: true });
    });

    const refused: Array<[string, string]> = [
      ['an upper-case sha256', `/v1/images/${SHA.toUpperCase()}`],
      ['63 hex digits', `/v1/images/${SHA.slice(1)}`],
      ['65 hex digits', `/v1/images/${SHA}0`],
      ['a non-hex digit', `/v1/images/${SHA.slice(1)}g`],
      ['a trailing slash', `/v1/images/${SHA}/`],
      ['a manifest path with a trailing slash', `/v1/images/${SHA}/manifest/`],
      ['another sub-resource', `/v1/images/${SHA}/pieces`],
      ['a query string', `/v1/images/${SHA}?x=1`],
      ['no sha256', '/v1/images/'],
      ['the root', '/'],
      ['the empty string', ''],
      ['another version', `/v2/images/${SHA}`],
      ['an upper-case prefix', `/V1/images/${SHA}`],
      ['no leading slash', `v1/images/${SHA}`],
      ['a doubled slash', `//v1/images/${SHA}`],
      ['a dot segment', `/v1/images/../images/${SHA}`],
      ['an encoded slash', `/v1/images%2f${SHA}`],
      ['a trailing newline', `/v1/images/${SHA}\n`],
    ];
    for (const [why, p] of refused) {
      it(`refuses ${why}`, () => {
        expect(parseImagePath(p)).to.equal(undefined);
      });
    }
  });

  describe('parseRange', () => {
    const SIZE = 1000;
    const accepted: Array<[string, { start: number; end: number }]> = [
      ['bytes=0-0', { start: 0, end: 1 }],
      ['bytes=0-999', { start: 0, end: 1000 }],
      ['bytes=10-19', { start: 10, end: 20 }],
      ['bytes=999-999', { start: 999, end: 1000 }],
      ['bytes=005-010', { start: 5, end: 11 }],
      ['bytes=000000000000000-000000000000009', { start: 0, end: 10 }],
    ];
    for (const [header, range] of accepted) {
      it(`accepts ${header} in a ${SIZE}-byte image as [${range.start}, ${range.end})`, () => {
        expect(parseRange(header, SIZE)).to.deep.equal(range);
      });
    }

    const refused: Array<[string, string | undefined]> = [
      ['no header', undefined],
      ['an empty header', ''],
      ['a suffix range', 'bytes=-5'],
      ['an open range', 'bytes=5-'],
      ['several ranges', 'bytes=0-1,5-6'],
      ['several ranges with a space', 'bytes=0-1, 5-6'],
      ['a reversed range', 'bytes=10-9'],
      ['a last byte equal to the size', 'bytes=0-1000'],
      ['a range running past the end', 'bytes=990-1005'],
      ['a range starting past the end', 'bytes=2000-2001'],
      ['letters', 'bytes=a-b'],
      ['trailing garbage', 'bytes=1-2x'],
      ['a space after =', 'bytes= 1-2'],
      ['another unit', 'items=1-2'],
      ['an upper-case unit', 'Bytes=1-2'],
      ['a fraction', 'bytes=1.5-2'],
      ['a hex number', 'bytes=0x1-2'],
      ['a signed number', 'bytes=+1-2'],
      ['an exponent', 'bytes=1e2-2e2'],
      ['non-ASCII digits', 'bytes=\u0661-\u0662'],
      ['16-digit numbers', 'bytes=0000000000000001-0000000000000002'],
      ['no dash', 'bytes=12'],
    ];
    for (const [why, header] of refused) {
      it(`refuses ${why} (${JSON.stringify(header)})`, () => {
        expect(parseRange(header, SIZE)).to.equal(undefined);
      });
    }

    it('accepts up to MAX_RANGE_BYTES in one range and refuses one byte more', () => {
      const size = 4 * MAX_RANGE_BYTES;
      expect(parseRange(`bytes=0-${MAX_RANGE_BYTES - 1}`, size)).to.deep.equal({ start: 0, end: MAX_RANGE_BYTES });
      expect(parseRange(`bytes=7-${MAX_RANGE_BYTES + 6}`, size)).to.deep.equal({ start: 7, end: MAX_RANGE_BYTES + 7 });
      expect(parseRange(`bytes=0-${MAX_RANGE_BYTES}`, size)).to.equal(undefined);
      expect(parseRange(`bytes=0-${size - 1}`, size)).to.equal(undefined);
    });

    it('refuses every range of an empty image', () => {
      expect(parseRange('bytes=0-0', 0)).to.equal(undefined);
    });

    it('property: an accepted range lies inside the image, is not empty and is at most MAX_RANGE_BYTES', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 2 ** 40 }),
          // The range's length: around the bounds, anywhere, or unrelated to the start.
          fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: MAX_RANGE_BYTES - 2, max: MAX_RANGE_BYTES + 2 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
          fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 * MAX_RANGE_BYTES })),
          (a, len, size) => {
            const b = Math.max(0, a + len - 1);
            const r = parseRange(`bytes=${a}-${b}`, size);
            const ok = b >= a && b < size && b - a + 1 <= MAX_RANGE_BYTES;
            if (!ok) return r === undefined;
            return r !== undefined && r.start === a && r.end === b + 1 && r.end <= size && r.end - r.start <= MAX_RANGE_BYTES;
          },
        ),
        { numRuns: 2000 },
      );
    });
  });
});
