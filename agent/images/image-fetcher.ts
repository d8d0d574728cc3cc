import { createReadStream } from 'node:fs';
import { open, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { UnavailableError } from '../../shared/errors.js';

/** How a fetch went: whether it continued a partial file, and the full size if the server said. */
export interface FetchOutcome {
  resumed: boolean;
  totalBytes?: number;
}

/** Options of one fetch. */
export interface FetchOptions {
  /** Bytes already in `dest`; the fetch asks for the rest. */
  offset: number;
  /**
   * Called once before any byte is appended: `resumed` false means `dest` was
   * truncated and the bytes start from 0 (the source could not resume).
   */
  onStart(resumed: boolean, totalBytes: number | undefined): void | Promise<void>;
  /** Sees every byte appended to `dest` (for hashing and progress). */
  onData(chunk: Buffer): void;
  signal?: AbortSignal;
}

/** Gets an image's bytes into a file; behind an interface so the cache logic is testable. */
export interface ImageFetcher {
  /** Appends the bytes from `offset` on to `dest` (truncating it first if the source cannot resume). Throws UnavailableError. */
  fetch(url: URL, dest: string, opts: FetchOptions): Promise<FetchOutcome>;
}

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 30_000;

/** Fetches http(s) URLs with Range resume, and file:// URLs by streaming copy. */
export class HttpImageFetcher implements ImageFetcher {
  async fetch(url: URL, dest: string, opts: FetchOptions): Promise<FetchOutcome> {
    if (url.protocol === 'file:') return this.copyFile(url, dest, opts);
    return this.fetchHttp(url, dest, opts, 0);
  }

  private async copyFile(url: URL, dest: string, opts: FetchOptions): Promise<FetchOutcome> {
    const size = await stat(url).then((s) => s.size, (e: Error) => {
      throw new UnavailableError(`cannot read ${url.href}: ${e.message}`);
    });
    const offset = opts.offset <= size ? opts.offset : 0;
    if (offset !== opts.offset) await writeFile(dest, '');
    await opts.onStart(offset > 0, size);
    await appendStream(createReadStream(url, { start: offset }), dest, opts);
    return { resumed: offset > 0, totalBytes: size };
  }

  private fetchHttp(url: URL, dest: string, opts: FetchOptions, redirects: number): Promise<FetchOutcome> {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const headers = opts.offset > 0 ? { range: `bytes=${opts.offset}-` } : {};
    return new Promise<FetchOutcome>((resolve, reject) => {
      const req = get(url, { headers, signal: opts.signal }, (res) => {
        const code = res.statusCode ?? 0;
        const location = res.headers.location;
        if (code >= 300 && code < 400 && location) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) return reject(new UnavailableError(`${url.href}: more than ${MAX_REDIRECTS} redirects`));
          return resolve(this.fetchHttp(new URL(location, url), dest, opts, redirects + 1));
        }
        if (code === 416) {
          // The partial file is at least as long as the image: start over.
          res.resume();
          return writeFile(dest, '').then(() => resolve(this.fetchHttp(url, dest, { ...opts, offset: 0 }, redirects)), reject);
        }
        if (code !== 200 && code !== 206) {
          res.resume();
          return reject(new UnavailableError(`GET ${url.href} answered HTTP ${code}: check the image URL and the repository`));
        }
        const resumed = code === 206 && opts.offset > 0;
        const total = totalSize(res.headers['content-range'], res.headers['content-length'], resumed ? opts.offset : 0);
        const start = resumed ? Promise.resolve() : writeFile(dest, '');
        start
          .then(() => opts.onStart(resumed, total))
          .then(() => appendStream(res, dest, opts))
          .then(
            () => resolve({ resumed, ...(total !== undefined ? { totalBytes: total } : {}) }),
            // The response broke off mid-body (connection reset or closed early): the source failed; the partial file stays for a resume.
            (e: Error) => reject(e === res.errored && !(e instanceof UnavailableError) && e.name !== 'AbortError' ? brokeOff(url, e) : e),
          );
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new UnavailableError(`GET ${url.href}: no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.on('error', (e) => reject(e instanceof UnavailableError || e.name === 'AbortError' ? e : new UnavailableError(`GET ${url.href}: ${e.message}`, { cause: e })));
    });
  }
}

function brokeOff(url: URL, cause: Error): UnavailableError {
  return new UnavailableError(`GET ${url.href}: the download broke off (${cause.message}); it resumes on retry`, { cause });
}

function totalSize(contentRange: string | undefined, contentLength: string | undefined, offset: number): number | undefined {
  const m = contentRange ? /\/(\d+)$/.exec(contentRange) : null;
  if (m?.[1]) return Number(m[1]);
  return contentLength ? offset + Number(contentLength) : undefined;
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
