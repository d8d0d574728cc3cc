import type { RatePacer } from './rate-pacer.js';

/**
 * Why a source could not give a range: `absent` (it neither holds nor fetches
 * the image: rested a little longer, it may be about to start), `busy` (all its upload
 * slots are taken, or the piece did not arrive there in time: try another
 * source, come back later), `down` (no connection: it may have died), `failed`
 * (it answered something unusable).
 */
export type SourceFailure = 'absent' | 'busy' | 'down' | 'failed';

export class SourceError extends Error {
  constructor(
    message: string,
    readonly failure: SourceFailure,
  ) {
    super(message);
  }
}

/** Per-request options of a range fetch. */
export interface RangeOptions {
  pacer: RatePacer;
  signal?: AbortSignal;
  /** How long a peer that is itself fetching the image may hold the request until it has the range. */
  waitMs: number;
}

/** Somewhere the bytes of an image can come from: a peer agent or the image repository. */
export interface PieceSource {
  /** For logs and reports: the peer's host name, or "repository". */
  readonly name: string;
  readonly kind: 'peer' | 'repository';
  /** Bytes [start, end) of the image. Throws SourceError. */
  fetchRange(sha256: string, start: number, end: number, opts: RangeOptions): Promise<Buffer>;
  /** The image's piece manifest, or undefined when this source has none. Throws SourceError when it cannot be asked. */
  fetchManifest(sha256: string, signal?: AbortSignal): Promise<string | undefined>;
}

/** Reads a response body of exactly `length` bytes into one buffer, paced. Throws SourceError on a short or long body. */
export async function readExactly(body: AsyncIterable<Buffer>, length: number, what: string, opts: { pacer?: RatePacer; signal?: AbortSignal | undefined }): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of body) {
    opts.signal?.throwIfAborted();
    if (at + chunk.length > length) throw new SourceError(`${what}: the answer is longer than the ${length} bytes asked for`, 'failed');
    chunk.copy(out, at);
    at += chunk.length;
    await opts.pacer?.take(chunk.length, opts.signal);
  }
  if (at !== length) throw new SourceError(`${what}: the answer broke off after ${at} of ${length} bytes`, 'down');
  return out;
}
