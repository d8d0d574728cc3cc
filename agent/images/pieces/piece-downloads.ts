import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';
import { writeFileAtomic } from '../../dhcp/atomic-file.js';
import type { ServedImage } from '../peer/peer-server.js';
import type { PeerConnections } from '../peer/peer-source.js';
import type { ImageSourcePolicy } from '../source-policy.js';
import { ManifestError, parseManifest, PieceHasher, type PieceManifest } from './piece-manifest.js';
import { SourceError, type PieceSource } from './piece-source.js';
import { PieceStore } from './piece-store.js';
import { RatePacer } from './rate-pacer.js';
import { RepositorySource } from './repository-source.js';
import { swarmDownload, type SwarmReport } from './swarm-download.js';

/** A peer the coordinator named as a source. */
export interface PeerRef {
  hostName: string;
  url: string;
}

/** Tunables of piece-wise downloads. */
export interface PieceSettings {
  /** Piece size of manifests this host computes. */
  pieceBytes: number;
  /** Pieces requested at once per download. */
  concurrency: number;
  /** How long a peer may hold a request for a piece it is still fetching. */
  peerWaitMs: number;
}

/** What a piece-wise download produced. */
export interface PieceOutcome {
  manifest: PieceManifest;
  report: SwarmReport;
}

// How long a request for an image that is about to be fetched here waits for its download to start.
const APPEAR_WAIT_MS = 3000;

/**
 * The piece-wise side of the image cache: finds an image's manifest (from
 * peers, else the repository's `<url>.pieces.json`), runs swarm downloads
 * into `partial/<sha>.data`, keeps the manifests of complete images in
 * `manifests/<sha>.json`, and answers the peer server with what this host
 * can serve (complete images, and verified pieces of running downloads).
 */
export class PieceDownloads {
  private readonly stores = new Map<string, PieceStore>();
  // Manifests of cached images, by sha256 (forgotten on eviction).
  private readonly manifests = new Map<string, Promise<PieceManifest>>();
  private readonly appearWaiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly dir: string,
    private readonly settings: PieceSettings,
    private readonly policy: ImageSourcePolicy,
    private readonly peers: PeerConnections | undefined,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  private get manifestDir(): string {
    return path.join(this.dir, 'manifests');
  }

  async open(): Promise<void> {
    await mkdir(this.manifestDir, { recursive: true });
  }

  dataPath(sha256: string): string {
    return path.join(this.dir, 'partial', `${sha256}.data`);
  }

  private recordPath(sha256: string): string {
    return path.join(this.dir, 'partial', `${sha256}.pieces.json`);
  }

  /** The sources of a download: the peers named (when this host has peer TLS), the repository last. */
  sources(url: string, peers: readonly PeerRef[]): PieceSource[] {
    const fromPeers = this.peers ? peers.map((p) => this.peers!.source(p.hostName, p.url)) : [];
    return [...fromPeers, new RepositorySource(new URL(url), this.policy)];
  }

  /** The manifest of an image to fetch: one saved here, else the first source that has one; undefined when none has. */
  async findManifest(ref: { sha256: string; sizeBytes?: number }, sources: readonly PieceSource[], signal?: AbortSignal): Promise<PieceManifest | undefined> {
    const saved = await this.savedManifest(ref.sha256, ref.sizeBytes);
    if (saved) return saved;
    for (const source of sources) {
      try {
        const text = await source.fetchManifest(ref.sha256, signal);
        if (text === undefined) continue;
        return parseManifest(text, ref);
      } catch (e) {
        if (!(e instanceof SourceError || e instanceof ManifestError)) throw e;
        this.logger.info({ source: source.name, err: e.message }, 'no usable piece manifest from this source');
      }
    }
    return undefined;
  }

  /**
   * Fetches every piece into `partial/<sha>.data`, checks the whole sha256
   * and hands the file to `commit` (which moves it into the cache). Throws UnavailableError (pieces kept for a retry) or
   * WholeImageMismatch (everything discarded).
   */
  async download(
    manifest: PieceManifest,
    sources: PieceSource[],
    opts: { rateBytesPerSec: number; signal?: AbortSignal; onProgress?(done: number, total: number): void; commit(dataPath: string): Promise<void> },
  ): Promise<PieceOutcome> {
    const sha = manifest.sha256;
    const store = await PieceStore.open(manifest, this.dataPath(sha), this.recordPath(sha));
    this.stores.set(sha, store);
    for (const wake of this.appearWaiters.get(sha) ?? []) wake();
    try {
      const report = await swarmDownload({
        store, sources, pacer: new RatePacer(opts.rateBytesPerSec, this.clock), concurrency: this.settings.concurrency,
        waitMs: this.settings.peerWaitMs, logger: this.logger, clock: this.clock,
        ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      const digest = await store.wholeDigest();
      if (digest !== sha) {
        await store.discardRecord();
        await rm(store.dataPath, { force: true });
        throw new WholeImageMismatch(sha);
      }
      await this.saveManifest(manifest);
      await store.discardRecord();
      // Still listed as running while the caller moves it into the cache: a peer asking meanwhile is served, not sent away.
      await opts.commit(store.dataPath);
      return { manifest, report };
    } finally {
      this.stores.delete(sha);
      await store.close();
    }
  }

  /**
   * The manifest of a verified blob: from memory (the peer server asks on
   * every range request), else from disk, else computed once from the blob
   * (images fetched whole, or cached before pieces existed) and saved;
   * concurrent first requests share one computation.
   */
  manifestOf(sha256: string, blobPath: string): Promise<PieceManifest> {
    let known = this.manifests.get(sha256);
    if (!known) {
      known = this.loadOrCompute(sha256, blobPath);
      this.manifests.set(sha256, known);
      known.catch(() => this.manifests.delete(sha256));
    }
    return known;
  }

  private async loadOrCompute(sha256: string, blobPath: string): Promise<PieceManifest> {
    const saved = await this.savedManifest(sha256);
    if (saved) return saved;
    const hasher = new PieceHasher(this.settings.pieceBytes);
    for await (const chunk of createReadStream(blobPath) as AsyncIterable<Buffer>) hasher.update(chunk);
    const { sha256: digest, manifest } = hasher.finish();
    // The blob changed under the cache: never describe bytes that are not the image.
    if (digest !== sha256) throw new Error(`cached image ${sha256} does not hash to its name`);
    await this.saveManifest(manifest);
    return manifest;
  }

  /** Forgets the manifest of an evicted image. */
  async forget(sha256: string): Promise<void> {
    this.manifests.delete(sha256);
    await rm(path.join(this.manifestDir, `${sha256}.json`), { force: true });
  }

  /** A running piece-wise download of the image, waiting up to `waitMs` (capped) for one to start. */
  async running(sha256: string, waitMs: number): Promise<PieceStore | undefined> {
    const now = this.stores.get(sha256);
    if (now || waitMs <= 0) return now;
    await new Promise<void>((resolve) => {
      const set = this.appearWaiters.get(sha256) ?? new Set();
      this.appearWaiters.set(sha256, set);
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.appearWaiters.delete(sha256);
        resolve();
      };
      const timer = setTimeout(done, Math.min(waitMs, APPEAR_WAIT_MS));
      set.add(done);
    });
    return this.stores.get(sha256);
  }

  /** Piece-wise downloads running now, for the heartbeat. */
  runningDownloads(): { sha256: string; sizeBytes: number; verifiedBytes: number }[] {
    return [...this.stores.values()].map((s) => ({ sha256: s.manifest.sha256, sizeBytes: s.manifest.sizeBytes, verifiedBytes: s.verifiedBytes() }));
  }

  /** A complete blob as a ServedImage. */
  static servedBlob(manifest: PieceManifest, blobPath: string): ServedImage {
    return {
      manifest,
      waitFor: () => Promise.resolve(true),
      read: async (start, end) => {
        const handle = await open(blobPath, 'r');
        try {
          const buf = Buffer.allocUnsafe(end - start);
          const { bytesRead } = await handle.read(buf, 0, buf.length, start);
          if (bytesRead !== buf.length) throw new Error(`cached image ${manifest.sha256} is shorter than its manifest`);
          return buf;
        } finally {
          await handle.close();
        }
      },
    };
  }

  /** A running download as a ServedImage: only its verified pieces are read. */
  static servedStore(store: PieceStore): ServedImage {
    return {
      manifest: store.manifest,
      waitFor: (i, ms) => store.waitFor(i, ms),
      read: async (start, end) => {
        const pb = store.manifest.pieceBytes;
        const parts: Buffer[] = [];
        for (let i = Math.floor(start / pb); i * pb < end; i++) parts.push(await store.read(i));
        const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        const base = Math.floor(start / pb) * pb;
        return joined.subarray(start - base, end - base);
      },
    };
  }

  private async savedManifest(sha256: string, sizeBytes?: number): Promise<PieceManifest | undefined> {
    const text = await readFile(path.join(this.manifestDir, `${sha256}.json`), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      return parseManifest(text, { sha256, ...(sizeBytes ? { sizeBytes } : {}) });
    } catch {
      return undefined;
    }
  }

  private saveManifest(m: PieceManifest): Promise<void> {
    this.manifests.set(m.sha256, Promise.resolve(m));
    return writeFileAtomic(path.join(this.manifestDir, `${m.sha256}.json`), JSON.stringify(m));
  }
}

/** Every piece verified, yet the image does not hash to its sha256: the manifest does not belong to the image. */
export class WholeImageMismatch extends Error {
  constructor(sha256: string) {
    super(`the pieces assembled for image ${sha256} verified against their manifest, but the image does not hash to ${sha256}: the manifest is wrong (republish it with vonode image-manifest)`);
  }
}
