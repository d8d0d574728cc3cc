import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../../shared/clock.js';
import { digestFile } from '../../shared/fs/file-digest.js';
import { FailedPreconditionError, NotFoundError, ResourceExhaustedError, VonodeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { ProcessRunner, runChecked, type CommandRunner } from '../../shared/process/command-runner.js';
import { status } from '@grpc/grpc-js';
import { writeFileAtomic } from '../dhcp/atomic-file.js';
import { HttpImageFetcher, TruncatedImageError, type ImageFetcher } from './image-fetcher.js';
import type { ImageSourcePolicy } from './source-policy.js';
import type { ServedImage, ServedImages } from './peer/peer-server.js';
import type { PeerConnections } from './peer/peer-source.js';
import { MAX_WAIT_MS } from './peer/peer-protocol.js';
import { DEFAULT_PIECE_BYTES, type PieceManifest } from './pieces/piece-manifest.js';
import type { PieceSource } from './pieces/piece-source.js';
import { PieceDownloads, WholeImageMismatch, type PeerRef, type PieceSettings } from './pieces/piece-downloads.js';

/**
 * A downloaded image whose bytes do not hash to the requested sha256; it was
 * deleted, never used. FAILED_PRECONDITION: the repository serves other bytes
 * than the request names, so another host would fetch the same. The message
 * never carries the actual digest (nor anything else derived from the bytes):
 * it would tell the caller something about content it was not allowed to know.
 */
export class ImageVerificationError extends VonodeError {
  constructor(url: string, expected: string) {
    super(
      `image ${url} does not match the expected sha256 ${expected}: the repository serves a corrupt image or the request (the VO's policy) names the wrong digest; ` +
        'it was discarded: fix the image on the repository or the digest in the policy (retrying elsewhere will not help)',
      status.FAILED_PRECONDITION,
    );
  }
}

const DEFAULT_PARTIAL_TTL_MS = 15 * 60_000;

/** Reference to an image to have in the cache. */
export interface ImageRequest {
  url: string;
  sha256: string;
  sizeBytes?: number;
  /** Peers the coordinator named as sources, asked before the repository (piece-wise). */
  peers?: readonly PeerRef[];
  /** The rate the coordinator admitted this download at, bytes/s (0 or absent: unpaced). */
  rateBytesPerSecond?: number;
}

/** One image this host holds or is fetching, for the coordinator's source scheduling. */
export interface ImageHolding {
  sha256: string;
  sizeBytes: number;
  /** Verified bytes (all of them when complete). */
  verifiedBytes: number;
  complete: boolean;
}

/** A verified image in the cache. */
export interface CachedImage {
  path: string;
  /** true when no byte had to be fetched for this call (already cached, or joined another call's download). */
  cacheHit: boolean;
  /** Bytes this call transferred (0 on a hit or when it joined a running download). */
  bytesTransferred: number;
  format: 'qcow2' | 'raw';
}

/** One entry of the cache listing. */
export interface CacheEntry {
  sha256: string;
  sizeBytes: number;
  lastUsedMs: number;
  inUse: number;
  url: string;
  format: 'qcow2' | 'raw';
}

interface IndexEntry {
  sizeBytes: number;
  lastUsedMs: number;
  url: string;
  format: 'qcow2' | 'raw';
}

/** Options of the image cache. */
export interface ImageCacheOptions {
  dir: string;
  budgetBytes: number;
  /** images.sources: where images may come from; every request URL is checked against it. */
  policy: ImageSourcePolicy;
  /** A partial download untouched for longer than this is deleted (default 15 min). */
  partialTtlMs?: number;
  logger: Logger;
  clock?: Clock;
  fetcher?: ImageFetcher;
  runner?: CommandRunner;
  /** Mutual-TLS connections to peer agents; without them the agent fetches from the repository only. */
  peers?: PeerConnections;
  pieces?: Partial<PieceSettings>;
}

/**
 * Content-addressed image cache: `blobs/<sha256>` holds only verified images;
 * downloads go to `partial/<sha256>.part` and resume from there (also after a
 * restart); `index.json` (replaced atomically) remembers URL, size, format
 * and last use for LRU eviction under a byte budget. Concurrent requests for
 * one image share a single download. In-use pins live in memory: the agent
 * re-pins the images of running domains when it restarts.
 *
 * A partial file is kept for a resume only while it is fresh: partials
 * untouched for `partialTtlMs` are deleted when the cache opens and whenever
 * a download starts (no timer to own and stop; the sweep runs exactly when
 * the cache is used, and a partial of a source that kept failing is only
 * worth keeping for the retry that follows soon after).
 */
export class ImageCache {
  private index = new Map<string, IndexEntry>();
  private readonly inUse = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<CachedImage>>();
  private readonly clock: Clock;
  private readonly fetcher: ImageFetcher;
  private readonly runner: CommandRunner;
  private readonly pieces: PieceDownloads;

  constructor(private readonly options: ImageCacheOptions) {
    this.clock = options.clock ?? systemClock;
    this.fetcher = options.fetcher ?? new HttpImageFetcher(options.policy);
    this.runner = options.runner ?? new ProcessRunner();
    // One piece in flight: pieces arrive in order at the full admitted rate, so a downstream host gets each one a
    // piece-time after this host (two in flight would share the rate and double the lag at every hop of a chain).
    const settings: PieceSettings = { pieceBytes: DEFAULT_PIECE_BYTES, concurrency: 1, peerWaitMs: MAX_WAIT_MS, ...options.pieces };
    this.pieces = new PieceDownloads(options.dir, settings, options.policy, options.peers, options.logger.child({ component: 'pieces' }), this.clock);
  }

  private get blobsDir(): string {
    return path.join(this.options.dir, 'blobs');
  }
  private get partialDir(): string {
    return path.join(this.options.dir, 'partial');
  }
  private blobPath(sha: string): string {
    return path.join(this.blobsDir, sha);
  }

  /** Creates the directories and reconciles the index with the blobs on disk. */
  async open(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.partialDir, { recursive: true });
    await this.pieces.open();
    await this.sweepPartials();
    const saved = await readFile(path.join(this.options.dir, 'index.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, IndexEntry>, () => ({}));
    const blobs = new Set(await readdir(this.blobsDir));
    this.index = new Map(Object.entries(saved).filter(([sha]) => blobs.has(sha)));
    for (const sha of blobs) {
      if (this.index.has(sha)) continue;
      // A blob without an index entry (crash between rename and index write): keep it only if it verifies.
      const file = this.blobPath(sha);
      if ((await digestFile(file)).sha256 === sha) {
        this.index.set(sha, { sizeBytes: (await stat(file)).size, lastUsedMs: 0, url: '', format: await this.detectFormat(file) });
      } else {
        await rm(file, { force: true });
      }
    }
    await this.saveIndex();
  }

  /**
   * Refuses a URL that images.sources does not allow, before anything is
   * fetched or looked at (the RPC edge calls it for every image of a
   * request). Throws PermissionDeniedError.
   */
  checkSource(url: string): void {
    this.options.policy.check(url);
  }

  /** True if the verified image is cached. */
  has(sha256: string): boolean {
    return this.index.has(sha256);
  }

  /**
   * What the peer server may serve of an image: the whole image when cached
   * (its manifest computed on first use), the verified pieces of a piece-wise
   * download running here (waiting up to `waitMs`, capped, for one about to
   * start), or undefined.
   */
  async served(sha256: string, waitMs = 0): Promise<ServedImage | undefined> {
    const store = this.index.has(sha256) ? undefined : await this.pieces.running(sha256, waitMs);
    if (store) return PieceDownloads.servedStore(store);
    // Also when the download started and finished while this request waited.
    if (!this.index.has(sha256)) return undefined;
    return PieceDownloads.servedBlob(await this.pieces.manifestOf(sha256, this.blobPath(sha256)), this.blobPath(sha256));
  }

  /** The peer server's view of this cache. */
  asServedImages(): ServedImages {
    return { served: (sha, waitMs) => this.served(sha, waitMs) };
  }

  /** Complete images and running piece-wise downloads, for the heartbeat. */
  holdings(): ImageHolding[] {
    const out: ImageHolding[] = [...this.index.entries()].map(([sha256, e]) => ({ sha256, sizeBytes: e.sizeBytes, verifiedBytes: e.sizeBytes, complete: true }));
    for (const d of this.pieces.runningDownloads()) out.push({ ...d, complete: false });
    return out;
  }

  /**
   * Returns the verified image, downloading it on a miss. Throws
   * PermissionDeniedError when images.sources does not allow the URL (also
   * on a cache hit: the answer must not depend on what is cached),
   * ImageVerificationError (never caches bad bytes), TruncatedImageError,
   * ResourceExhaustedError when it cannot fit the budget, UnavailableError
   * when the source fails.
   */
  ensure(ref: ImageRequest, opts: { onProgress?(done: number, total: number): void; signal?: AbortSignal } = {}): Promise<CachedImage> {
    try {
      this.checkSource(ref.url);
    } catch (e) {
      return Promise.reject(e);
    }
    const cached = this.index.get(ref.sha256);
    if (cached) {
      cached.lastUsedMs = this.clock.nowMs();
      return this.saveIndex().then(() => ({ path: this.blobPath(ref.sha256), cacheHit: true, bytesTransferred: 0, format: cached.format }));
    }
    const running = this.inflight.get(ref.sha256);
    if (running) return running.then((r) => ({ ...r, cacheHit: true, bytesTransferred: 0 }));
    const download = this.download(ref, opts).finally(() => this.inflight.delete(ref.sha256));
    this.inflight.set(ref.sha256, download);
    return download;
  }

  /** Pins an image (it backs a live instance disk); pinned images are never evicted. */
  acquire(sha256: string): void {
    this.inUse.set(sha256, (this.inUse.get(sha256) ?? 0) + 1);
  }

  /** Drops one pin. */
  release(sha256: string): void {
    const n = (this.inUse.get(sha256) ?? 0) - 1;
    if (n > 0) this.inUse.set(sha256, n);
    else this.inUse.delete(sha256);
  }

  /** Cached images, most recently used first. */
  list(): CacheEntry[] {
    return [...this.index.entries()]
      .map(([sha256, e]) => ({ sha256, ...e, inUse: this.inUse.get(sha256) ?? 0 }))
      .sort((a, b) => b.lastUsedMs - a.lastUsedMs);
  }

  /** Bytes of all verified images. */
  usedBytes(): number {
    let sum = 0;
    for (const e of this.index.values()) sum += e.sizeBytes;
    return sum;
  }

  /** Removes an image; returns the bytes freed. Throws NotFoundError, or FailedPreconditionError if pinned. */
  async evict(sha256: string): Promise<number> {
    const entry = this.index.get(sha256);
    if (!entry) throw new NotFoundError(`image ${sha256} is not cached`);
    if (this.inUse.get(sha256)) throw new FailedPreconditionError(`image ${sha256} backs ${this.inUse.get(sha256)} running VM(s); remove them first`);
    this.index.delete(sha256);
    await this.saveIndex();
    await rm(this.blobPath(sha256), { force: true });
    await this.pieces.forget(sha256);
    this.options.logger.info({ sha256, bytes: entry.sizeBytes }, 'image evicted');
    return entry.sizeBytes;
  }

  private async download(ref: ImageRequest, opts: { onProgress?(done: number, total: number): void; signal?: AbortSignal }): Promise<CachedImage> {
    await this.sweepPartials(ref.sha256);
    if (ref.sizeBytes) await this.makeRoom(ref.sizeBytes, ref.sha256);
    const sources = this.pieces.sources(ref.url, ref.peers ?? []);
    const manifest = await this.pieces.findManifest(ref, sources, opts.signal);
    if (manifest) return this.downloadPieces(ref, manifest, sources, opts);
    return this.downloadWhole(ref, opts);
  }

  /**
   * Piece-wise, from peers and the repository (agent/images/pieces/). The
   * whole image is checked against its sha256 before it enters the cache.
   */
  private async downloadPieces(ref: ImageRequest, manifest: PieceManifest, sources: PieceSource[], opts: { onProgress?(done: number, total: number): void; signal?: AbortSignal }): Promise<CachedImage> {
    await this.makeRoom(manifest.sizeBytes, ref.sha256);
    let format: 'qcow2' | 'raw' = 'raw';
    const outcome = await this.pieces
      .download(manifest, sources, {
        rateBytesPerSec: ref.rateBytesPerSecond ?? 0,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        commit: async (dataPath) => {
          format = await this.detectFormat(dataPath);
          await rename(dataPath, this.blobPath(ref.sha256));
          this.index.set(ref.sha256, { sizeBytes: manifest.sizeBytes, lastUsedMs: this.clock.nowMs(), url: ref.url, format });
          await this.saveIndex();
        },
      })
      .catch((e: unknown) => {
        if (e instanceof WholeImageMismatch) {
          this.options.logger.warn({ sha256: ref.sha256, url: ref.url }, e.message);
          throw new ImageVerificationError(ref.url, ref.sha256);
        }
        throw e;
      });
    const fetched = Object.values(outcome.report.bytesBySource).reduce((a, b) => a + b, 0);
    this.options.logger.info({ sha256: ref.sha256, url: ref.url, bytes: manifest.sizeBytes, fetched, bySource: outcome.report.bytesBySource, corruptSources: outcome.report.corruptSources, failovers: outcome.report.failovers }, 'image cached (piece-wise)');
    return { path: this.blobPath(ref.sha256), cacheHit: false, bytesTransferred: fetched, format };
  }

  /** In one stream from the repository (no manifest anywhere), resuming a partial file. */
  private async downloadWhole(ref: ImageRequest, opts: { onProgress?(done: number, total: number): void; signal?: AbortSignal }): Promise<CachedImage> {
    const partial = path.join(this.partialDir, `${ref.sha256}.part`);
    const offset = await stat(partial).then((s) => s.size, () => 0);
    let hash = createHash('sha256');
    // Bytes of `partial` that `hash` has seen.
    let hashed = 0;
    let fetched = 0;
    let total = ref.sizeBytes ?? 0;
    const outcome = await this.fetcher
      .fetch(new URL(ref.url), partial, {
        offset,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onStart: async (at, totalBytes) => {
          total = totalBytes ?? total;
          // Bytes continue at `at`: the hash must cover exactly the file's first `at` bytes (re-read from disk unless it already does).
          if (at !== hashed) {
            hash = at > 0 ? await hashInto(createHash('sha256'), partial, at) : createHash('sha256');
            hashed = at;
          }
        },
        onData: (chunk) => {
          hash.update(chunk);
          hashed += chunk.length;
          fetched += chunk.length;
          opts.onProgress?.(hashed, total);
        },
      })
      .catch(async (e: unknown) => {
        // A truncated image never completes: its partial file is worth nothing.
        if (e instanceof TruncatedImageError) await rm(partial, { force: true });
        throw e;
      });
    const size = (await stat(partial)).size;
    if (hash.digest('hex') !== ref.sha256) {
      await rm(partial, { force: true });
      // The size goes to the agent's own log only; the caller learns nothing about the bytes.
      this.options.logger.warn({ sha256: ref.sha256, url: ref.url, bytes: size }, 'fetched image does not match its sha256; discarded');
      if (ref.sizeBytes && size < ref.sizeBytes) throw new TruncatedImageError(ref.url, `it is shorter than the ${ref.sizeBytes} bytes the request names (size_bytes)`);
      throw new ImageVerificationError(ref.url, ref.sha256);
    }
    await this.makeRoom(size, ref.sha256);
    const format = await this.detectFormat(partial);
    await rename(partial, this.blobPath(ref.sha256));
    this.index.set(ref.sha256, { sizeBytes: size, lastUsedMs: this.clock.nowMs(), url: ref.url, format });
    await this.saveIndex();
    this.options.logger.info({ sha256: ref.sha256, url: ref.url, bytes: size, fetched, resumedFrom: offset, resumes: outcome.resumes }, 'image cached');
    return { path: this.blobPath(ref.sha256), cacheHit: false, bytesTransferred: fetched, format };
  }

  /**
   * Deletes partial downloads untouched for partialTtlMs, except those of
   * downloads running now (and of `keep`, about to resume). Best effort: a
   * file that vanished meanwhile is fine.
   */
  private async sweepPartials(keep?: string): Promise<void> {
    const ttl = this.options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
    const now = Date.now(); // file mtimes are wall-clock time, whatever clock the cache was given
    for (const name of await readdir(this.partialDir).catch(() => [] as string[])) {
      // partial/<sha>.part (whole downloads), <sha>.data and <sha>.pieces.json (piece-wise ones).
      const sha = /^([0-9a-f]{64})\./.exec(name)?.[1];
      if (sha !== undefined && (sha === keep || this.inflight.has(sha))) continue;
      const file = path.join(this.partialDir, name);
      const mtime = await stat(file).then((s) => s.mtimeMs, () => undefined);
      if (mtime !== undefined && now - mtime > ttl) {
        await rm(file, { force: true, recursive: true });
        this.options.logger.info({ file }, 'stale partial download deleted');
      }
    }
  }

  private async makeRoom(bytes: number, forSha: string): Promise<void> {
    if (bytes > this.options.budgetBytes) {
      throw new ResourceExhaustedError(`image ${forSha} (${bytes} bytes) is larger than the cache budget (${this.options.budgetBytes} bytes): raise images.budget`);
    }
    const lru = this.list().reverse().filter((e) => e.inUse === 0 && e.sha256 !== forSha);
    while (this.usedBytes() + bytes > this.options.budgetBytes) {
      const victim = lru.shift();
      if (!victim) {
        throw new ResourceExhaustedError(`image cache full: ${this.usedBytes()} of ${this.options.budgetBytes} bytes are used by images of running VMs; need ${bytes} more; raise images.budget or remove VMs`);
      }
      await this.evict(victim.sha256);
    }
  }

  private async detectFormat(file: string): Promise<'qcow2' | 'raw'> {
    const result = await runChecked(this.runner, ['qemu-img', 'info', '--output=json', file]);
    const format = (JSON.parse(result.stdout) as { format?: string }).format;
    return format === 'qcow2' ? 'qcow2' : 'raw';
  }

  private saveIndex(): Promise<void> {
    return writeFileAtomic(path.join(this.options.dir, 'index.json'), JSON.stringify(Object.fromEntries(this.index), null, 1));
  }
}

/** Feeds the file (or its first `bytes` bytes) to `hash`. */
async function hashInto(hash: Hash, file: string, bytes?: number): Promise<Hash> {
  const stream = createReadStream(file, bytes !== undefined ? { end: bytes - 1 } : {});
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return hash;
}
