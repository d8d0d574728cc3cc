import { open, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../shared/clock.js';
import { PermissionDeniedError, UnavailableError, VonodeError } from '../../shared/errors.js';
import type { ImageSourcePolicy } from './source-policy.js';

/** How a fetch went: whether it continued a partial file, the full size if the source said, and how often it resumed by itself. */
export interface FetchOutcome {
  resumed: boolean;
  totalBytes?: number;
  /** Automatic resumes after the source broke off mid-body. */
  resumes: number;
}

/** Options of one fetch. */
export interface FetchOptions {
  /** Bytes already in `dest`; the fetch asks for the rest. */
  offset: number;
  /**
   * Called before each run of bytes is appended (again after every automatic
   * resume): they continue `dest` at `offset`; 0 means `dest` was emptied and
   * the bytes start over (the source could not resume).
   */
  onStart(offset: number, totalBytes: number | undefined): void | Promise<void>;
  /** Sees every byte appended to `dest` (for hashing and progress). */
  onData(chunk: Buffer): void;
  signal?: AbortSignal;
}

/** Gets an image's bytes into a file; behind an interface so the cache logic is testable. */
export interface ImageFetcher {
  /**
   * Appends the bytes from `offset` on to `dest` (truncating it first if the
   * source cannot resume). Throws PermissionDeniedError (a URL or redirect
   * images.sources does not allow), TruncatedImageError, UnavailableError.
   */
  fetch(url: URL, dest: string, opts: FetchOptions): Promise<FetchOutcome>;
}

/** The repository serves fewer bytes than the image has: retrying, here or on another host, does not help. */
export class TruncatedImageError extends VonodeError {
  constructor(url: string, why: string) {
    super(`image ${url} is truncated: ${why}; the repository serves an incomplete file: publish the whole image there again (retrying elsewhere will not help)`, status.FAILED_PRECONDITION);
  }
}

/** Tunables of HttpImageFetcher. */
export interface HttpImageFetcherOptions {
  /** Automatic resumes within one fetch while every try makes progress (default 3). */
  maxResumes?: number;
  /** Pause before the first automatic resume, doubled for each next one (default 250 ms). */
  resumeBackoffMs?: number;
  clock?: Clock;
}

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 30_000;

/** One HTTP response's worth of bytes: where it started and ended in `dest`, and whether it ended early. */
interface Try {
  resumed: boolean;
  total: number | undefined;
  end: number;
  brokeOff?: Error;
}

/**
 * Fetches http(s) URLs with Range resume, and file:// URLs by streaming copy,
 * only from what the ImageSourcePolicy allows: the URL and every redirect
 * target are checked before a request is made, a file's real path before it
 * is opened. A response that breaks off mid-body is resumed by itself, up to
 * `maxResumes` times with a doubling pause, as long as each try gets further
 * than the one before; a source that ends at the same offset again serves a
 * truncated image (TruncatedImageError), one that keeps breaking off is
 * UNAVAILABLE (the partial file stays for a later resume).
 */
export class HttpImageFetcher implements ImageFetcher {
  private readonly maxResumes: number;
  private readonly backoffMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly policy: ImageSourcePolicy,
    options: HttpImageFetcherOptions = {},
  ) {
    this.maxResumes = options.maxResumes ?? 3;
    this.backoffMs = options.resumeBackoffMs ?? 250;
    this.clock = options.clock ?? systemClock;
  }

  async fetch(url: URL, dest: string, opts: FetchOptions): Promise<FetchOutcome> {
    const allowed = this.policy.check(url);
    if (allowed.protocol === 'file:') return this.copyFile(allowed, dest, opts);
    let offset = opts.offset;
    // Where the previous try ended; none yet. A try that ends there again made no progress.
    let reached = -1;
    let declared: number | undefined;
    let first: boolean | undefined;
    for (let resumes = 0; ; resumes++) {
      const t = await this.fetchHttp(allowed, dest, { ...opts, offset }, 0);
      first ??= t.resumed;
      // The largest size the source ever declared: a later, smaller one means it shrank.
      if (t.total !== undefined) declared = Math.max(declared ?? 0, t.total);
      if (!t.brokeOff && (declared === undefined || t.end >= declared)) {
        return { resumed: first, resumes, ...(declared !== undefined ? { totalBytes: declared } : {}) };
      }
      if (t.end <= reached) {
        throw new TruncatedImageError(url.href, 'the repository ends its answer before the size it declares, at the same point on every try');
      }
      if (resumes >= this.maxResumes) {
        const why = t.brokeOff ? ` (${t.brokeOff.message})` : '';
        throw new UnavailableError(`GET ${url.href}: the download broke off ${resumes + 1} times${why}; the partial file resumes on the next request`, { cause: t.brokeOff });
      }
      reached = t.end;
      // The file, not the count of bytes seen, says where to go on (a write may have landed partly).
      offset = await stat(dest).then((s) => s.size, () => 0);
      await this.clock.sleep(this.backoffMs * 2 ** resumes, opts.signal);
    }
  }

  private async copyFile(url: URL, dest: string, opts: FetchOptions): Promise<FetchOutcome> {
    const handle = await this.policy.openLocal(url).catch((e: NodeJS.ErrnoException) => {
      if (e instanceof PermissionDeniedError) throw e;
      throw new UnavailableError(`cannot read ${url.href} (${e.code ?? e.message}): check the image URL and the repository directory`);
    });
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new UnavailableError(`${url.href} is not a regular file: name an image file`);
      const offset = opts.offset <= info.size ? opts.offset : 0;
      if (offset !== opts.offset) await writeFile(dest, '');
      await opts.onStart(offset, info.size);
      await appendStream(handle.createReadStream({ start: offset, autoClose: false }), dest, opts);
      return { resumed: offset > 0, totalBytes: info.size, resumes: 0 };
    } finally {
      await handle.close();
    }
  }

  /** One GET (following allowed redirects). Resolves with how far it got, also when the body broke off; throws when the source fails outright. */
  private fetchHttp(url: URL, dest: string, opts: FetchOptions, redirects: number): Promise<Try> {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const headers = opts.offset > 0 ? { range: `bytes=${opts.offset}-` } : {};
    return new Promise<Try>((resolve, reject) => {
      const req = get(url, { headers, signal: opts.signal }, (res) => {
        const code = res.statusCode ?? 0;
        const location = res.headers.location;
        if (code >= 300 && code < 400 && location) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) return reject(new UnavailableError(`${url.href}: more than ${MAX_REDIRECTS} redirects`));
          let next: URL;
          try {
            next = this.policy.checkRedirect(location, url);
          } catch (e) {
            return reject(e);
          }
          return resolve(this.fetchHttp(next, dest, opts, redirects + 1));
        }
        if (code === 416) {
          res.resume();
          const total = rangeTotal(res.headers['content-range']);
          // The source says the image is exactly as long as the partial file: nothing is missing (the hash decides).
          if (total !== undefined && total === opts.offset) {
            return Promise.resolve(opts.onStart(opts.offset, total)).then(() => resolve({ resumed: true, total, end: opts.offset }), reject);
          }
          // The partial file is longer than the image: start over.
          return writeFile(dest, '').then(() => resolve(this.fetchHttp(url, dest, { ...opts, offset: 0 }, redirects)), reject);
        }
        if (code !== 200 && code !== 206) {
          res.resume();
          return reject(new UnavailableError(`GET ${url.href} answered HTTP ${code}: check the image URL and the repository`));
        }
        const resumed = code === 206 && opts.offset > 0;
        const start = resumed ? opts.offset : 0;
        const total = totalSize(res.headers['content-range'], res.headers['content-length'], start);
        let appended = 0;
        const counting: FetchOptions = { ...opts, onData: (chunk) => ((appended += chunk.length), opts.onData(chunk)) };
        (resumed ? Promise.resolve() : writeFile(dest, ''))
          .then(() => opts.onStart(start, total))
          .then(() => appendStream(res, dest, counting))
          .then(
            () => resolve({ resumed, total, end: start + appended }),
            (e: Error) => {
              // The response broke off mid-body (connection reset or closed early): the caller decides whether to resume.
              if (e === res.errored && !(e instanceof UnavailableError) && e.name !== 'AbortError') resolve({ resumed, total, end: start + appended, brokeOff: e });
              else reject(e);
            },
          );
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new UnavailableError(`GET ${url.href}: no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.on('error', (e) => reject(e instanceof UnavailableError || e.name === 'AbortError' ? e : new UnavailableError(`GET ${url.href}: ${e.message}`, { cause: e })));
    });
  }
}

function rangeTotal(contentRange: string | undefined): number | undefined {
  const m = contentRange ? /\/(\d+)$/.exec(contentRange) : null;
  return m?.[1] ? Number(m[1]) : undefined;
}

function totalSize(contentRange: string | undefined, contentLength: string | undefined, offset: number): number | undefined {
  return rangeTotal(contentRange) ?? (contentLength ? offset + Number(contentLength) : undefined);
}

/** Appends a stream to a file, reporting each chunk; rejects if the stream ends early with an error. */
async function appendStream(source: Readable, dest: string, opts: FetchOptions): Promise<void> {
  const handle = await open(dest, 'a');
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      opts.signal?.throwIfAborted();
      await handle.write(chunk);
      opts.onData(chunk);
    }
  } finally {
    await handle.close();
  }
}
