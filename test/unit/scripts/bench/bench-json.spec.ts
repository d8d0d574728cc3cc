import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { finiteOrNull, writeBenchJson } from '../../../../scripts/bench/lib/bench-json.js';

describe('scripts/bench/lib/bench-json', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-bench-json-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('writeBenchJson', () => {
    it('writes pretty JSON with a trailing newline, numbers as numbers, creating the parent directories', async () => {
      const file = path.join(dir, 'a', 'b', 'out.json');
      const fields = { benchmark: 'x', total_s: 3.25, runs_s: [1, 2.5], nested: { ratio: 0.5, missing_s: null }, ok: true };
      await writeBenchJson(file, fields);
      const text = await readFile(file, 'utf8');
      expect(text).to.equal(`${JSON.stringify(fields, null, 2)}\n`);
      expect(JSON.parse(text)).to.deep.equal(fields);
    });

    it('replaces an existing file and leaves no temporary file behind', async () => {
      const file = path.join(dir, 'out.json');
      await writeFile(file, 'old content that is longer than the new one\n');
      await writeBenchJson(file, { n: 1 });
      expect(JSON.parse(await readFile(file, 'utf8'))).to.deep.equal({ n: 1 });
      expect(await readdir(dir)).to.deep.equal(['out.json']);
    });

    const nonFinite: Array<[string, Record<string, unknown>, string]> = [
      ['NaN at the top level', { total_s: NaN }, '"total_s" is NaN'],
      ['Infinity in an array', { runs_s: [1, Infinity] }, '"runs_s[1]" is Infinity'],
      ['-Infinity deep inside', { rows: [{ vms: 1, phases: { pt_s: -Infinity } }] }, '"rows[0].phases.pt_s" is -Infinity'],
    ];
    for (const [what, fields, message] of nonFinite) {
      it(`rejects ${what}, naming the field, and writes nothing`, async () => {
        const file = path.join(dir, 'out.json');
        const err = await writeBenchJson(file, fields).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(RangeError);
        expect((err as Error).message).to.include(message).and.to.include(file);
        expect(await readdir(dir)).to.deep.equal([]);
      });
    }

    it('keeps the old file if the new content cannot be serialized', async () => {
      const file = path.join(dir, 'out.json');
      await writeFile(file, '{"old":true}\n');
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      expect(await writeBenchJson(file, cyclic).catch((e: unknown) => e)).to.be.instanceOf(TypeError);
      expect(await readFile(file, 'utf8')).to.equal('{"old":true}\n');
      expect(await readdir(dir)).to.deep.equal(['out.json']);
    });

    it('rejects an empty file name', async () => {
      expect(await writeBenchJson('', { n: 1 }).catch((e: unknown) => e)).to.be.instanceOf(TypeError);
    });

    it('rejects with the file-system error when the parent is a file', async () => {
      await writeFile(path.join(dir, 'plain'), '');
      const err = await writeBenchJson(path.join(dir, 'plain', 'out.json'), { n: 1 }).catch((e: unknown) => e);
      expect((err as NodeJS.ErrnoException).code).to.be.oneOf(['EEXIST', 'ENOTDIR']);
    });
  });

  describe('finiteOrNull', () => {
    const cases: Array<[number | undefined, number | null]> = [[1.5, 1.5], [0, 0], [-2, -2], [NaN, null], [Infinity, null], [-Infinity, null], [undefined, null]];
    for (const [x, want] of cases) {
      it(`${String(x)} → ${String(want)}`, () => {
        expect(finiteOrNull(x)).to.equal(want);
      });
    }
  });
});
