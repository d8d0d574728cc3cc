import { systemClock, type Clock } from '../../../shared/clock.js';
import { UnavailableError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { pieceRange } from './piece-manifest.js';
import { SourceError, type PieceSource } from './piece-source.js';
import { CorruptPieceError, type PieceStore } from './piece-store.js';
import type { RatePacer } from './rate-pacer.js';

/** Options of one piece-wise download. */
export interface SwarmOptions {
  store: PieceStore;
  /** In order of preference: the peers the coordinator named, the repository last. */
  sources: PieceSource[];
  pacer: RatePacer;
  /** Pieces requested at once (a pipeline needs a few in flight to keep the link busy). */
  concurrency: number;
  /** How long a peer may hold a request for a piece it is still fetching. */
  waitMs: number;
  logger: Logger;
  clock?: Clock;
  signal?: AbortSignal;
  onProgress?(verifiedBytes: number, totalBytes: number): void;
  /** Full passes over the sources for one piece before the download gives up (default 8). */
  maxRounds?: number;
}

/** Where the bytes came from, and what went wrong on the way. */
export interface SwarmReport {
  bytesBySource: Record<string, number>;
  /** Sources that sent a piece that did not verify (never asked again in this download). */
  corruptSources: string[];
  /** Pieces that had to be taken from another source than the first one asked. */
  failovers: number;
}

// The repository is asked for a piece that a live peer said it is still getting only after this many passes:
// a peer that is busy or behind is worth a short wait, the repository's link is the site's scarcest.
const PASSES_BEFORE_REPOSITORY_OVER_BUSY_PEER = 2;
// A source that could not answer is left alone this long before it is asked again.
const COOLDOWN_MS: Record<'absent' | 'busy' | 'down' | 'failed', number> = { absent: 2000, busy: 0, down: 3000, failed: 5000 };

interface SourceState {
  bad: boolean;
  idleUntilMs: number;
}

/**
 * Fills a PieceStore from several sources: pieces are taken in order, a few
 * at a time, each from the first source that can give it now (peers first;
 * a peer still fetching the image holds the request until it has the
 * piece, which makes a chain of hosts one pipelined transfer). A source that
 * fails is skipped for a while and the piece is asked of the next one; a
 * source whose piece does not verify is dropped for the rest of the
 * download. Verified pieces survive any failure, so a resumed download never
 * starts from zero. Throws UnavailableError when a piece cannot be had from
 * any source after `maxRounds` passes.
 */
export async function swarmDownload(options: SwarmOptions): Promise<SwarmReport> {
  const clock = options.clock ?? systemClock;
  // One failed piece stops the other workers too: nothing goes on fetching for a download reported failed.
  const stop = new AbortController();
  const o: SwarmOptions = { ...options, signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal };
  const states = new Map<PieceSource, SourceState>(o.sources.map((s) => [s, { bad: false, idleUntilMs: 0 }]));
  const report: SwarmReport = { bytesBySource: {}, corruptSources: [], failovers: 0 };
  const queue = o.store.missing();
  const total = o.store.manifest.sizeBytes;
  let verified = o.store.verifiedBytes();

  const fetchPiece = async (index: number): Promise<void> => {
    const { start, end } = pieceRange(o.store.manifest, index);
    const rounds = o.maxRounds ?? 8;
    let lastError = '';
    for (let round = 0; round < rounds; round++) {
      let asked = 0;
      let peerBusy = false;
      for (const source of o.sources) {
        const state = states.get(source)!;
        if (state.bad || state.idleUntilMs > clock.monotonicMs()) continue;
        if (source.kind === 'repository' && peerBusy && round < PASSES_BEFORE_REPOSITORY_OVER_BUSY_PEER) continue;
        o.signal?.throwIfAborted();
        asked++;
        try {
          const bytes = await source.fetchRange(o.store.manifest.sha256, start, end, { pacer: o.pacer, waitMs: o.waitMs, ...(o.signal ? { signal: o.signal } : {}) });
          await o.store.write(index, bytes, source.name);
          report.bytesBySource[source.name] = (report.bytesBySource[source.name] ?? 0) + bytes.length;
          if (asked > 1 || round > 0) report.failovers++;
          verified += bytes.length;
          o.onProgress?.(verified, total);
          return;
        } catch (e) {
          if (e instanceof CorruptPieceError) {
            // Several pieces may be in flight from it: it is reported (and dropped) once.
            if (!state.bad) report.corruptSources.push(source.name);
            state.bad = true;
            o.logger.warn({ source: source.name, piece: index }, 'piece from this source does not verify: source dropped for this download, piece asked elsewhere');
            lastError = e.message;
          } else if (e instanceof SourceError) {
            state.idleUntilMs = clock.monotonicMs() + COOLDOWN_MS[e.failure];
            if (e.failure === 'busy' && source.kind === 'peer') peerBusy = true;
            if (e.failure !== 'busy') o.logger.info({ source: source.name, piece: index, failure: e.failure, err: e.message }, 'source could not give the piece; asking the next one');
            lastError = e.message;
          } else {
            throw e;
          }
        }
      }
      if (o.sources.every((s) => states.get(s)!.bad)) break;
      await clock.sleep(Math.min(2000, 100 * 2 ** round), o.signal);
    }
    throw new UnavailableError(`piece ${index} of image ${o.store.manifest.sha256} could not be fetched from any source (last: ${lastError || 'every source was resting'}); the verified pieces stay for a retry`);
  };

  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (!o.store.has(next)) await fetchPiece(next);
    }
  };
  const outcomes = await Promise.allSettled(Array.from({ length: Math.max(1, o.concurrency) }, () => worker().catch((e: unknown) => {
    queue.length = 0;
    stop.abort(e);
    throw e;
  })));
  // The first failure is the cause; the others are its consequence (aborted by it).
  const failed = outcomes.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw options.signal?.aborted ? options.signal.reason : failed.reason;
  return report;
}
