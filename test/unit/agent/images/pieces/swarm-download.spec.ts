import { expect } from 'chai';
import fc from 'fast-check';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { MIN_PIECE_BYTES, PieceHasher, type PieceManifest } from '../../../../../agent/images/pieces/piece-manifest.js';
import { SourceError, type PieceSource, type RangeOptions, type SourceFailure } from '../../../../../agent/images/pieces/piece-source.js';
import { PieceStore } from '../../../../../agent/images/pieces/piece-store.js';
import { RatePacer } from '../../../../../agent/images/pieces/rate-pacer.js';
import { swarmDownload, type SwarmOptions, type SwarmReport } from '../../../../../agent/images/pieces/swarm-download.js';
import type { Clock } from '../../../../../shared/clock.js';
import { UnavailableError } from '../../../../../shared/errors.js';
import { silentLogger } from '../../../../../shared/logger.js';
import { tempDir } from '../../../../helpers/agent-fakes.js';

const PIECE = MIN_PIECE_BYTES;

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

// Six pieces, the last one short.
const IMAGE = bytesOf(5 * PIECE + 1000, 1234);
const MANIFEST: PieceManifest = (() => {
  const h = new PieceHasher(PIECE);
  h.update(IMAGE);
  return h.finish().manifest;
})();
const pieceOf = (start: number): number => Math.floor(start / PIECE);

/** What a MemorySource does when asked for a piece: give it, give corrupted bytes, or fail. */
type Behaviour = 'ok' | 'corrupt' | SourceFailure;

/**
 * Test double of a PieceSource: serves the image from memory. `behave` decides,
 * per call, whether it answers, corrupts the bytes or throws SourceError.
 * Every call and every answer is recorded.
 */
class MemorySource implements PieceSource {
  readonly calls: number[] = [];
  /** Pieces this source delivered intact. */
  readonly delivered: number[] = [];
  /** How many calls had been made when this source first answered with corrupted bytes. */
  callsAtFirstCorrupt: number | undefined;
  readonly kind: 'peer' | 'repository';

  constructor(
    readonly name: string,
    private readonly behave: (piece: number, call: number) => Behaviour = () => 'ok',
    private readonly image: Buffer = IMAGE,
  ) {
    this.kind = name === 'repository' ? 'repository' : 'peer';
  }

  async fetchRange(sha256: string, start: number, end: number, _opts: RangeOptions): Promise<Buffer> {
    expect(sha256).to.equal(MANIFEST.sha256);
    const piece = pieceOf(start);
    this.calls.push(piece);
    await Promise.resolve(); // answer asynchronously, as a network source would
    const b = this.behave(piece, this.calls.length);
    if (b === 'ok') {
      this.delivered.push(piece);
      return Buffer.from(this.image.subarray(start, end));
    }
    if (b === 'corrupt') {
      this.callsAtFirstCorrupt ??= this.calls.length;
      const bytes = Buffer.from(this.image.subarray(start, end));
      bytes[0] = bytes[0]! ^ 0x55;
      return bytes;
    }
    throw new SourceError(`${this.name}: ${b}`, b);
  }

  async fetchManifest(): Promise<string | undefined> {
    return undefined;
  }
}

/** A clock whose sleep resolves at once (backoff costs no time); `advancing` makes sleeps move time forward. */
function fakeClock(advancing = false): Clock & { slept: number[] } {
  let now = 10_000;
  const slept: number[] = [];
  return {
    slept,
    monotonicMs: () => now,
    nowMs: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      if (advancing) now += ms;
    },
  };
}

const sumOf = (r: SwarmReport): number => Object.values(r.bytesBySource).reduce((a, b) => a + b, 0);
const pieceLength = (i: number): number => Math.min(PIECE, IMAGE.length - i * PIECE);

describe('agent/images/pieces/swarmDownload', () => {
  let dir: string;
  let n = 0;
  const stores: PieceStore[] = [];
  const newStore = async (): Promise<PieceStore> => {
    n++;
    const s = await PieceStore.open(MANIFEST, path.join(dir, `s${n}.data`), path.join(dir, `s${n}.pieces.json`));
    stores.push(s);
    return s;
  };
  const run = (store: PieceStore, sources: PieceSource[], over: Partial<SwarmOptions> = {}): Promise<SwarmReport> =>
    swarmDownload({ store, sources, pacer: new RatePacer(0), concurrency: 1, waitMs: 1000, logger: silentLogger(), clock: fakeClock(), ...over });

  before(async () => {
    dir = await tempDir('vonode-swarm-');
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('asks the sources in order: with all of them healthy, every piece comes from the first', async () => {
    for (const concurrency of [1, 3]) {
      const store = await newStore();
      const a = new MemorySource('phys-01');
      const b = new MemorySource('repository');
      const report = await run(store, [a, b], { concurrency });
      expect(report).to.deep.equal({ bytesBySource: { 'phys-01': IMAGE.length }, corruptSources: [], failovers: 0 });
      expect([...a.calls].sort()).to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(b.calls).to.deep.equal([]);
      expect(store.complete).to.equal(true);
      expect(await store.wholeDigest()).to.equal(MANIFEST.sha256);
    }
  });

  it('takes a piece from the next source when the first is busy, and goes back to the first for the next piece', async () => {
    const store = await newStore();
    const a = new MemorySource('phys-01', (piece) => (piece === 2 ? 'busy' : 'ok'));
    const b = new MemorySource('repository');
    const report = await run(store, [a, b]);
    expect(b.delivered).to.deep.equal([2]);
    expect(a.delivered).to.deep.equal([0, 1, 3, 4, 5]);
    expect(report.failovers).to.equal(1);
    expect(report.bytesBySource).to.deep.equal({ 'phys-01': IMAGE.length - PIECE, repository: PIECE });
  });

  it('takes the remaining pieces from the next source when one goes down mid-way, fetching no verified piece again', async () => {
    for (const concurrency of [1, 2, 4]) {
      const store = await newStore();
      let served = 0;
      // phys-01 serves three pieces, then dies.
      const a = new MemorySource('phys-01', () => (++served <= 3 ? 'ok' : 'down'));
      const b = new MemorySource('phys-02');
      const c = new MemorySource('repository');
      const report = await run(store, [a, b, c], { concurrency });
      expect(a.delivered, `concurrency ${concurrency}`).to.have.length(3);
      const all = [...a.delivered, ...b.delivered, ...c.delivered].sort();
      expect(all, 'each piece delivered exactly once').to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(b.delivered).to.have.length(3);
      expect(c.calls).to.deep.equal([]);
      // phys-01 rests after it went down: at most the requests already in flight reached it.
      expect(a.calls.length).to.be.at.most(3 + concurrency);
      expect(report.bytesBySource['phys-01']! + report.bytesBySource['phys-02']!).to.equal(IMAGE.length);
      expect(report.failovers).to.be.at.least(1);
      expect(await store.wholeDigest()).to.equal(MANIFEST.sha256);
    }
  });

  it('asks no source for pieces the store already verified (a resumed download)', async () => {
    const store = await newStore();
    for (const i of [0, 1, 4]) await store.write(i, IMAGE.subarray(i * PIECE, i * PIECE + PIECE), 'earlier');
    const a = new MemorySource('phys-01');
    const progress: number[] = [];
    const report = await run(store, [a], { onProgress: (done, total) => progress.push(done / total) });
    expect(a.calls).to.deep.equal([2, 3, 5]);
    expect(sumOf(report)).to.equal(pieceLength(2) + pieceLength(3) + pieceLength(5));
    expect(progress.at(-1)).to.equal(1);
    expect(progress).to.deep.equal([...progress].sort((x, y) => x - y));
    expect(await store.wholeDigest()).to.equal(MANIFEST.sha256);
  });

  it('drops a source that sent corrupted bytes for the rest of the download and takes the piece from another', async () => {
    const store = await newStore();
    const a = new MemorySource('phys-01', (piece) => (piece === 2 ? 'corrupt' : 'ok'));
    const b = new MemorySource('phys-02');
    const report = await run(store, [a, b]);
    expect(report.corruptSources).to.deep.equal(['phys-01']);
    expect(a.calls).to.deep.equal([0, 1, 2]); // never asked again after piece 2
    expect(b.delivered).to.deep.equal([2, 3, 4, 5]);
    expect(report.bytesBySource).to.deep.equal({ 'phys-01': 2 * PIECE, 'phys-02': IMAGE.length - 2 * PIECE });
    expect(report.failovers).to.equal(1);
    expect(await store.wholeDigest()).to.equal(MANIFEST.sha256);
  });

  it('drops a source that sent a piece of the wrong length as corrupt', async () => {
    const store = await newStore();
    const short = new MemorySource('phys-01', () => 'ok', IMAGE.subarray(0, IMAGE.length - 1));
    const b = new MemorySource('repository');
    const report = await run(store, [short, b]);
    expect(report.corruptSources).to.deep.equal(['phys-01']);
    expect(short.calls).to.deep.equal([0, 1, 2, 3, 4, 5]); // the image is whole but for its last byte
    expect(report.bytesBySource).to.deep.equal({ 'phys-01': 5 * PIECE, repository: pieceLength(5) });
  });

  it('throws UnavailableError when no source can give a piece, and the verified pieces stay in the store', async () => {
    const p = { data: path.join(dir, 'fail.data'), record: path.join(dir, 'fail.pieces.json') };
    const store = await PieceStore.open(MANIFEST, p.data, p.record);
    let served = 0;
    const a = new MemorySource('phys-01', () => (++served <= 2 ? 'ok' : 'down'));
    const b = new MemorySource('repository', () => 'absent');
    const clock = fakeClock();
    const err = await swarmDownload({ store, sources: [a, b], pacer: new RatePacer(0), concurrency: 1, waitMs: 1000, logger: silentLogger(), clock }).then(
      () => expect.fail('expected UnavailableError'),
      (e: unknown) => e as Error,
    );
    expect(err).to.be.instanceOf(UnavailableError);
    expect(err.message).to.match(/piece 2 of image [0-9a-f]{64} could not be fetched from any source/);
    expect(clock.slept).to.have.length(8); // maxRounds passes, each followed by a backoff
    expect(store.verifiedCount).to.equal(2);
    expect(store.missing()).to.deep.equal([2, 3, 4, 5]);
    await store.close();
    const again = await PieceStore.open(MANIFEST, p.data, p.record);
    stores.push(again);
    expect(again.missing()).to.deep.equal([2, 3, 4, 5]);
  });

  it('backs off 100 ms doubling to at most 2 s between passes, for maxRounds passes', async () => {
    const store = await newStore();
    const clock = fakeClock();
    const err = await run(store, [new MemorySource('phys-01', () => 'failed')], { clock, maxRounds: 7 }).then(() => expect.fail('expected a rejection'), (e: unknown) => e);
    expect(err).to.be.instanceOf(UnavailableError);
    expect(clock.slept).to.deep.equal([100, 200, 400, 800, 1600, 2000, 2000]);
  });

  it('asks a source that went down again once its rest is over', async () => {
    const store = await newStore();
    const clock = fakeClock(true);
    const a = new MemorySource('phys-01', (_piece, call) => (call === 1 ? 'down' : 'ok'));
    const report = await run(store, [a], { clock });
    expect(report.bytesBySource).to.deep.equal({ 'phys-01': IMAGE.length });
    expect(report.failovers).to.equal(1); // piece 0 came in a later pass
    expect(clock.slept).to.deep.equal([100, 200, 400, 800, 1600]); // 3.1 s > the 3 s rest of a source that is down
  });

  it('gives up at once, without backing off, when every source sent corrupted bytes', async () => {
    const store = await newStore();
    const clock = fakeClock();
    const err = await run(store, [new MemorySource('phys-01', () => 'corrupt'), new MemorySource('repository', () => 'corrupt')], { clock }).then(() => expect.fail('expected a rejection'), (e: unknown) => e as Error);
    expect(err).to.be.instanceOf(UnavailableError);
    expect(err.message).to.match(/does not match its sha256/);
    expect(clock.slept).to.deep.equal([]);
    expect(store.verifiedCount).to.equal(0);
  });

  it('throws UnavailableError with no sources at all', async () => {
    const store = await newStore();
    const err = await run(store, []).then(() => expect.fail('expected a rejection'), (e: unknown) => e);
    expect(err).to.be.instanceOf(UnavailableError);
  });

  it('stops with the abort reason when the signal is aborted', async () => {
    const store = await newStore();
    const ac = new AbortController();
    ac.abort(new Error('cancelled by the coordinator'));
    const a = new MemorySource('phys-01');
    const err = await run(store, [a], { signal: ac.signal }).then(() => expect.fail('expected a rejection'), (e: unknown) => e as Error);
    expect(err.message).to.equal('cancelled by the coordinator');
    expect(a.calls).to.deep.equal([]);
  });

  it('passes the pacer and waitMs to every request', async () => {
    const store = await newStore();
    const pacer = new RatePacer(0);
    const seen: RangeOptions[] = [];
    const source: PieceSource = {
      name: 'phys-01',
      kind: 'peer',
      fetchRange: async (_sha, start, end, opts) => {
        seen.push(opts);
        return Buffer.from(IMAGE.subarray(start, end));
      },
      fetchManifest: async () => undefined,
    };
    await run(store, [source], { pacer, waitMs: 4321 });
    expect(seen).to.have.length(6);
    for (const o of seen) expect(o).to.include({ pacer, waitMs: 4321 });
  });

  it('property: with a reliable repository last, any mix of failing peers fills the store exactly once per piece, and bytesBySource sums to the image size', async () => {
    const failures: Behaviour[] = ['ok', 'ok', 'ok', 'corrupt', 'absent', 'busy', 'down', 'failed'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.constantFrom(...failures), { minLength: 1, maxLength: 12 }), { minLength: 0, maxLength: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.subarray([0, 1, 2, 3, 4, 5]),
        fc.boolean(),
        async (scripts, concurrency, preverified, advancing) => {
          const store = await newStore();
          for (const i of preverified) await store.write(i, IMAGE.subarray(i * PIECE, i * PIECE + PIECE), 'earlier');
          // Peer k answers its call number c with scripts[k][c mod length].
          const peers = scripts.map((script, k) => new MemorySource(`phys-0${k + 1}`, (_p, call) => script[(call - 1) % script.length]!));
          const repository = new MemorySource('repository');
          const report = await run(store, [...peers, repository], { concurrency, clock: fakeClock(advancing) });
          const missing = [0, 1, 2, 3, 4, 5].filter((i) => !preverified.includes(i));
          const delivered = [...peers, repository].flatMap((s) => s.delivered).sort();
          expect(delivered, 'each missing piece delivered once').to.deep.equal(missing);
          expect(sumOf(report)).to.equal(missing.reduce((s, i) => s + pieceLength(i), 0));
          if (preverified.length === 0) expect(sumOf(report)).to.equal(IMAGE.length);
          expect(store.complete).to.equal(true);
          expect(await store.wholeDigest()).to.equal(MANIFEST.sha256);
          expect(report.corruptSources).to.not.include('repository');
          for (const name of report.corruptSources) expect(report.bytesBySource[name] ?? 0).to.be.at.most(IMAGE.length);
          for (const p of peers) {
            expect(report.corruptSources.includes(p.name), p.name).to.equal(p.callsAtFirstCorrupt !== undefined);
            // A dropped source is never asked again (beyond the requests other workers already had in flight).
            if (p.callsAtFirstCorrupt !== undefined) expect(p.calls.length, p.name).to.be.at.most(p.callsAtFirstCorrupt + concurrency - 1);
          }
          await store.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});
