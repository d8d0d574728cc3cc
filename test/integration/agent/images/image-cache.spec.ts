import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { ImageCache, ImageVerificationError, type ImageRequest } from '../../../../agent/images/image-cache.js';
import { HttpImageFetcher, TruncatedImageError } from '../../../../agent/images/image-fetcher.js';
import { ImageSourcePolicy } from '../../../../agent/images/source-policy.js';
import { systemClock, type Clock } from '../../../../shared/clock.js';
import { FailedPreconditionError, PermissionDeniedError, ResourceExhaustedError, UnavailableError } from '../../../../shared/errors.js';
import { silentLogger } from '../../../../shared/logger.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { FlakyImageServer } from '../../../helpers/flaky-image-server.js';

const SIZE = 300 * 1024;
const CUT = 100_000;

interface Image {
  data: Buffer;
  ref: ImageRequest;
}

// The real cache with the real HttpImageFetcher and qemu-img, against a real
// HTTP server on 127.0.0.1 that breaks connections, ignores Range, corrupts
// bytes, truncates files, fails and redirects on demand. images.sources
// allows that server only.
describe('ImageCache + HttpImageFetcher against a real HTTP server', function () {
  this.timeout(30_000);
  let server: FlakyImageServer;
  let dir: string;
  let now: number;
  // Strictly increasing wall clock, so LRU order never depends on two uses landing in one millisecond.
  const clock: Clock = { ...systemClock, nowMs: () => ++now };

  const sources = (): string[] => [server.url('')];
  const open = async (budgetBytes = 10 * SIZE, partialTtlMs?: number): Promise<ImageCache> => {
    const policy = new ImageSourcePolicy(sources());
    // A short pause between automatic resumes keeps the tests fast; the logic is the production one.
    const fetcher = new HttpImageFetcher(policy, { resumeBackoffMs: 5 });
    const cache = new ImageCache({ dir, budgetBytes, policy, logger: silentLogger(), clock, fetcher, ...(partialTtlMs !== undefined ? { partialTtlMs } : {}) });
    await cache.open();
    return cache;
  };
  const digestsIn = (message: string): string[] => [...message.matchAll(/[0-9a-f]{64}/g)].map((m) => m[0]);
  const publish = (name: string, data: Buffer = randomBytes(SIZE)): Image => ({
    data,
    ref: { url: server.put(name, data), sha256: createHash('sha256').update(data).digest('hex') },
  });
  const failure = (p: Promise<unknown>): Promise<unknown> => p.then(() => expect.fail('expected a rejection'), (e: unknown) => e);
  const blobs = (): Promise<string[]> => readdir(path.join(dir, 'blobs'));
  const partials = (): Promise<string[]> => readdir(path.join(dir, 'partial'));
  const partialSize = (img: Image): Promise<number> => stat(path.join(dir, 'partial', `${img.ref.sha256}.part`)).then((s) => s.size);
  const sameBytes = async (file: string, img: Image): Promise<void> => {
    expect((await readFile(file)).equals(img.data), `${file} holds exactly the published bytes`).to.equal(true);
  };
  const seen = (): Array<[number, string | undefined, number]> => server.requests.map((r) => [r.status, r.range, r.bytesSent]);
  // The server cut the connection after CUT bytes and then failed the automatic resume (HTTP 503): the
  // ensure fails with UNAVAILABLE, and the partial file holds a prefix of the CUT bytes (an aborted
  // response may drop bytes received but not yet read); returns its size.
  const brokenDownload = async (cache: ImageCache, img: Image): Promise<number> => {
    server.plan({ cutAfterBytes: CUT }, { status: 503 });
    expect(await failure(cache.ensure(img.ref))).to.be.instanceOf(UnavailableError);
    expect(cache.has(img.ref.sha256)).to.equal(false);
    expect(await blobs()).to.deep.equal([]);
    const kept = await partialSize(img);
    expect(kept).to.be.within(1, server.requests.at(-2)!.bytesSent);
    return kept;
  };
  /** The offset a request asked for with "Range: bytes=N-". */
  const rangeStart = (range: string | undefined): number => Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1] ?? NaN);

  beforeEach(async () => {
    server = await new FlakyImageServer().start();
    dir = await tempDir('vonode-imgcache-');
    now = Date.now();
  });
  afterEach(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads and verifies an image into blobs/, then serves it as a cache hit without any transfer', async () => {
    const a = publish('a.raw');
    const cache = await open();
    const progress: number[] = [];
    const first = await cache.ensure(a.ref, { onProgress: (done) => progress.push(done) });
    expect(first).to.deep.equal({ path: path.join(dir, 'blobs', a.ref.sha256), cacheHit: false, bytesTransferred: SIZE, format: 'raw' });
    await sameBytes(first.path, a);
    expect(cache.has(a.ref.sha256)).to.equal(true);
    expect(await blobs()).to.deep.equal([a.ref.sha256]);
    expect(await partials()).to.deep.equal([]);
    expect(progress.at(-1)).to.equal(SIZE);
    expect(seen()).to.deep.equal([[200, undefined, SIZE]]);

    const second = await cache.ensure(a.ref);
    expect(second).to.deep.equal({ path: first.path, cacheHit: true, bytesTransferred: 0, format: 'raw' });
    expect(server.requests).to.have.length(1);
  });

  it('resumes a download that broke off by itself, within the same request, fetching only the missing bytes', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.plan({ cutAfterBytes: CUT });
    const r = await cache.ensure(a.ref);
    const kept = rangeStart(server.requests[1]?.range);
    expect(kept).to.be.within(1, CUT);
    expect(seen()).to.deep.equal([[200, undefined, CUT], [206, `bytes=${kept}-`, SIZE - kept]]);
    expect(r).to.include({ cacheHit: false, bytesTransferred: SIZE });
    await sameBytes(r.path, a);
    expect(await partials()).to.deep.equal([]);
  });

  it('keeps going while every try gets further, up to 3 resumes, then fails UNAVAILABLE and keeps the partial for a later request', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.always = { cutAfterBytes: 20_000 };
    const err = await failure(cache.ensure(a.ref));
    expect(err).to.be.instanceOf(UnavailableError);
    expect((err as Error).message).to.match(/broke off 4 times/);
    expect(server.requests).to.have.length(4);
    const kept = await partialSize(a);
    expect(kept).to.be.within(server.requests.length, 4 * 20_000);

    server.always = {};
    const r = await cache.ensure(a.ref);
    expect(seen().at(-1)).to.deep.equal([206, `bytes=${kept}-`, SIZE - kept]);
    await sameBytes(r.path, a);
  });

  it('keeps the partial file of a source that then fails (HTTP 503) and resumes from it on the next request', async () => {
    const a = publish('a.raw');
    const cache = await open();
    const kept = await brokenDownload(cache, a);
    expect(seen()).to.deep.equal([[200, undefined, CUT], [503, `bytes=${kept}-`, 0]]);

    const r = await cache.ensure(a.ref);
    expect(r).to.include({ cacheHit: false, bytesTransferred: SIZE - kept });
    expect(seen().at(-1)).to.deep.equal([206, `bytes=${kept}-`, SIZE - kept]);
    await sameBytes(r.path, a);
    expect(await partials()).to.deep.equal([]);
  });

  it('resumes from the partial file after an agent restart (new ImageCache on the same directory)', async () => {
    const a = publish('a.raw');
    const kept = await brokenDownload(await open(), a);

    const restarted = await open();
    const progress: number[] = [];
    const r = await restarted.ensure(a.ref, { onProgress: (done) => progress.push(done) });
    expect(r).to.include({ cacheHit: false, bytesTransferred: SIZE - kept });
    expect(seen()).to.deep.equal([[200, undefined, CUT], [503, `bytes=${kept}-`, 0], [206, `bytes=${kept}-`, SIZE - kept]]);
    expect(progress[0]).to.be.greaterThan(kept);
    expect(progress.at(-1)).to.equal(SIZE);
    await sameBytes(r.path, a);
  });

  it('restarts from byte 0 without duplicating bytes when the server ignores Range (200 with the whole body)', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.plan({ cutAfterBytes: CUT }, { ignoreRange: true });
    const r = await cache.ensure(a.ref);
    const kept = rangeStart(server.requests[1]?.range);
    expect(seen()).to.deep.equal([[200, undefined, CUT], [200, `bytes=${kept}-`, SIZE]]);
    expect(r).to.include({ cacheHit: false, bytesTransferred: kept + SIZE });
    expect((await stat(r.path)).size).to.equal(SIZE);
    await sameBytes(r.path, a);
  });

  it('rejects corrupted bytes with FAILED_PRECONDITION, names only the expected digest, and keeps nothing of them', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.plan({ corruptAt: 12_345 });
    const err = await failure(cache.ensure(a.ref));
    expect(err).to.be.instanceOf(ImageVerificationError);
    expect(err).to.have.property('code', status.FAILED_PRECONDITION);
    expect((err as Error).message).to.contain(`does not match the expected sha256 ${a.ref.sha256}`);
    // Nothing derived from the bytes fetched (the actual digest, the size) reaches the caller.
    expect(digestsIn((err as Error).message)).to.deep.equal([a.ref.sha256]);
    expect((err as Error).message).to.not.contain(String(SIZE));
    expect(cache.has(a.ref.sha256)).to.equal(false);
    expect(cache.list()).to.deep.equal([]);
    expect(await blobs()).to.deep.equal([]);
    expect(await partials()).to.deep.equal([]);
    expect(await failure(cache.evict(a.ref.sha256))).to.have.property('name', 'NotFoundError');

    // The retry starts from scratch (no Range on the corrupt bytes) and succeeds.
    const r = await cache.ensure(a.ref);
    expect(seen()[1]).to.deep.equal([200, undefined, SIZE]);
    await sameBytes(r.path, a);
  });

  it('discards a corrupted partial once the resumed download fails verification, then fetches it whole', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.plan({ cutAfterBytes: CUT, corruptAt: 0 });
    expect(await failure(cache.ensure(a.ref))).to.be.instanceOf(ImageVerificationError);
    const kept = rangeStart(server.requests[1]?.range);
    expect(await partials()).to.deep.equal([]);
    expect(await blobs()).to.deep.equal([]);
    const r = await cache.ensure(a.ref);
    expect(seen()).to.deep.equal([[200, undefined, CUT], [206, `bytes=${kept}-`, SIZE - kept], [200, undefined, SIZE]]);
    await sameBytes(r.path, a);
  });

  it('never accepts a truncated download as complete (short Content-Length, or connection closed 1 byte early)', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.plan({ shortLength: SIZE - 1_000 });
    expect(await failure(cache.ensure(a.ref))).to.be.instanceOf(ImageVerificationError);
    expect(cache.has(a.ref.sha256)).to.equal(false);
    expect(await blobs()).to.deep.equal([]);
    expect(await partials()).to.deep.equal([]);

    // With the size the request names, the short answer is called what it is: a truncated image.
    server.plan({ shortLength: SIZE - 1_000 });
    const err = await failure(cache.ensure({ ...a.ref, sizeBytes: SIZE }));
    expect(err).to.be.instanceOf(TruncatedImageError);
    expect(err).to.have.property('code', status.FAILED_PRECONDITION);
    expect(await partials()).to.deep.equal([]);

    // One byte missing: the automatic resume fetches it.
    server.plan({ cutAfterBytes: SIZE - 1 });
    const r = await cache.ensure(a.ref);
    const kept = rangeStart(server.requests.at(-1)?.range);
    expect(seen().at(-1)).to.deep.equal([206, `bytes=${kept}-`, SIZE - kept]);
    expect(r.bytesTransferred).to.equal(SIZE);
    await sameBytes(r.path, a);
  });

  it('fails a repository that serves a truncated file as if whole with FAILED_PRECONDITION and leaves no partial', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.always = { endsAtFileOffset: CUT };
    const err = await failure(cache.ensure(a.ref));
    expect(err).to.be.instanceOf(TruncatedImageError);
    expect(err).to.have.property('code', status.FAILED_PRECONDITION);
    expect((err as Error).message).to.match(/is truncated: .*publish the whole image/);
    expect(digestsIn((err as Error).message)).to.deep.equal([]);
    // It stopped as soon as a try got no further than the one before (not after the whole resume budget).
    expect(server.requests.length).to.be.within(2, 4);
    expect(server.requests.at(-1)!.bytesSent).to.equal(0);
    expect(await partials()).to.deep.equal([]);
    expect(await blobs()).to.deep.equal([]);
  });

  it('fails a failing repository (HTTP 503, connection refused) with UNAVAILABLE', async () => {
    const a = publish('a.raw');
    const cache = await open();
    server.plan({ status: 503 });
    const err = await failure(cache.ensure(a.ref));
    expect(err).to.be.instanceOf(UnavailableError);
    expect((err as Error).message).to.contain('HTTP 503');
    const url = a.ref.url;
    await server.stop();
    expect(await failure(cache.ensure({ ...a.ref, url }))).to.be.instanceOf(UnavailableError);
    server = await new FlakyImageServer().start(); // for afterEach
  });

  it('deletes partial downloads older than partialTtl when it opens and when another download starts, and no fresh one', async () => {
    const [a, b] = ['a', 'b'].map((n) => publish(`${n}.raw`)) as [Image, Image];
    const stale = path.join(dir, 'partial', `${'1'.repeat(64)}.part`);
    const fresh = path.join(dir, 'partial', `${'2'.repeat(64)}.part`);
    await open(); // creates the directories
    const hourAgo = new Date(Date.now() - 3_600_000);
    await writeFile(stale, 'old bytes');
    await utimes(stale, hourAgo, hourAgo);
    await writeFile(fresh, 'new bytes');
    const cache = await open(10 * SIZE, 60_000);
    expect(await partials()).to.deep.equal([path.basename(fresh)]);

    // A failing download leaves its partial; once it has aged, the next download of another image deletes it.
    const kept = await brokenDownload(cache, a);
    expect(kept).to.be.greaterThan(0);
    await utimes(path.join(dir, 'partial', `${a.ref.sha256}.part`), hourAgo, hourAgo);
    await cache.ensure(b.ref);
    expect(await partials()).to.deep.equal([path.basename(fresh)]);
  });

  it('refuses a URL outside images.sources with PERMISSION_DENIED before any request, also when the image is cached', async () => {
    const a = publish('a.raw');
    const cache = await open();
    const outside = [`http://localhost:${new URL(a.ref.url).port}/a.raw`, 'file:///etc/shadow', `${server.url('')}..%2fa.raw`];
    for (const url of outside) {
      const err = await failure(cache.ensure({ ...a.ref, url }));
      expect(err, url).to.be.instanceOf(PermissionDeniedError);
      expect((err as Error).message, url).to.contain('images.sources');
    }
    expect(server.requests).to.have.length(0);
    await cache.ensure(a.ref);
    expect(await failure(cache.ensure({ ...a.ref, url: 'file:///etc/shadow' }))).to.be.instanceOf(PermissionDeniedError);
  });

  it('follows a redirect inside images.sources, and refuses one to another origin without asking it anything', async () => {
    const a = publish('a.raw');
    const other = await new FlakyImageServer().start();
    try {
      other.put('a.raw', a.data);
      const cache = await open();
      server.plan({ redirect: '/moved/a.raw' }, { redirect: server.url('a.raw') });
      expect((await cache.ensure(a.ref)).cacheHit).to.equal(false);
      expect(seen().map(([code]) => code)).to.deep.equal([302, 302, 200]);
      await cache.evict(a.ref.sha256);

      server.plan({ redirect: other.url('a.raw') });
      const err = await failure(cache.ensure(a.ref));
      expect(err).to.be.instanceOf(PermissionDeniedError);
      expect((err as Error).message).to.contain(`redirects to ${other.url('a.raw')}`);
      expect(other.requests).to.have.length(0);
      expect(await partials()).to.deep.equal([]);
    } finally {
      await other.stop();
    }
  });

  it('shares one download between concurrent requests for the same image (single-flight)', async () => {
    const a = publish('a.raw');
    const cache = await open();
    const results = await Promise.all([1, 2, 3].map(() => cache.ensure(a.ref)));
    expect(server.requests).to.have.length(1);
    expect(server.bytesSent()).to.equal(SIZE);
    expect(new Set(results.map((r) => r.path))).to.deep.equal(new Set([path.join(dir, 'blobs', a.ref.sha256)]));
    const downloaders = results.filter((r) => r.bytesTransferred > 0);
    expect(downloaders).to.have.length(1);
    expect(downloaders[0]).to.include({ cacheHit: false, bytesTransferred: SIZE });
    expect(results.filter((r) => r.cacheHit && r.bytesTransferred === 0)).to.have.length(2);
    await sameBytes(results[0]!.path, a);
  });

  it('evicts the least recently used image when a new one does not fit the byte budget', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => publish(`${n}.raw`)) as [Image, Image, Image];
    const cache = await open(2.5 * SIZE);
    await cache.ensure(a.ref);
    await cache.ensure(b.ref);
    expect((await cache.ensure(a.ref)).cacheHit).to.equal(true); // a is now more recent than b
    await cache.ensure(c.ref);
    expect(cache.has(b.ref.sha256)).to.equal(false);
    expect(cache.list().map((e) => e.sha256)).to.deep.equal([c.ref.sha256, a.ref.sha256]);
    expect(await blobs()).to.have.members([a.ref.sha256, c.ref.sha256]);
    expect(cache.usedBytes()).to.equal(2 * SIZE);
  });

  it('never evicts a pinned image: ResourceExhaustedError when no room can be made, evictable after release()', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => publish(`${n}.raw`)) as [Image, Image, Image];
    const cache = await open(2.5 * SIZE);
    await cache.ensure(a.ref);
    await cache.ensure(b.ref);
    cache.acquire(a.ref.sha256);
    cache.acquire(b.ref.sha256);
    cache.acquire(b.ref.sha256);
    expect(await failure(cache.ensure({ ...c.ref, sizeBytes: SIZE }))).to.be.instanceOf(ResourceExhaustedError);
    expect(server.requests, 'refused before downloading').to.have.length(2);
    expect(await failure(cache.evict(a.ref.sha256))).to.be.instanceOf(FailedPreconditionError);
    expect(await blobs()).to.have.members([a.ref.sha256, b.ref.sha256]);

    cache.release(b.ref.sha256);
    expect(await failure(cache.ensure({ ...c.ref, sizeBytes: SIZE }))).to.be.instanceOf(ResourceExhaustedError); // still 1 pin on b
    cache.release(b.ref.sha256);
    const r = await cache.ensure({ ...c.ref, sizeBytes: SIZE });
    await sameBytes(r.path, c);
    expect(cache.has(b.ref.sha256)).to.equal(false);
    expect(cache.has(a.ref.sha256), 'pinned a survives although it is the least recently used').to.equal(true);
    expect(cache.list().find((e) => e.sha256 === a.ref.sha256)?.inUse).to.equal(1);

    cache.release(a.ref.sha256);
    await cache.ensure(b.ref);
    expect(await blobs()).to.have.members([b.ref.sha256, c.ref.sha256]);
  });

  it('keeps its index across a restart: a new ImageCache on the same directory lists the same entries', async () => {
    const a = publish('a.raw');
    const qcow2 = path.join(dir, 'q.qcow2');
    await runChecked(new ProcessRunner(), ['qemu-img', 'create', '-q', '-f', 'qcow2', qcow2, '64M']);
    const q = publish('q.qcow2', await readFile(qcow2));
    await rm(qcow2);
    const cache = await open();
    await cache.ensure(a.ref);
    expect((await cache.ensure(q.ref)).format).to.equal('qcow2');
    await cache.ensure(a.ref);
    const before = cache.list();
    expect(before.map((e) => [e.sha256, e.format, e.url, e.sizeBytes])).to.deep.equal([
      [a.ref.sha256, 'raw', a.ref.url, SIZE],
      [q.ref.sha256, 'qcow2', q.ref.url, q.data.length],
    ]);

    const restarted = await open();
    expect(restarted.list()).to.deep.equal(before);
    expect(restarted.usedBytes()).to.equal(SIZE + q.data.length);
    expect(await restarted.ensure(q.ref)).to.deep.equal({ path: path.join(dir, 'blobs', q.ref.sha256), cacheHit: true, bytesTransferred: 0, format: 'qcow2' });
    expect(server.requests).to.have.length(2);
  });

  it('on open() re-adopts a verified blob missing from the index and deletes a blob that does not verify', async () => {
    const [a, b] = ['a', 'b'].map((n) => publish(`${n}.raw`)) as [Image, Image];
    const cache = await open();
    await cache.ensure(a.ref);
    await cache.ensure(b.ref);
    await rm(path.join(dir, 'index.json')); // crash between blob rename and index write
    const bad = Buffer.from(b.data);
    bad[0] = bad[0]! ^ 0xff;
    await writeFile(path.join(dir, 'blobs', b.ref.sha256), bad);

    const restarted = await open();
    expect(restarted.list().map((e) => [e.sha256, e.sizeBytes, e.format])).to.deep.equal([[a.ref.sha256, SIZE, 'raw']]);
    expect(await blobs()).to.deep.equal([a.ref.sha256]);
  });
});
