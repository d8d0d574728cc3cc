import http from 'node:http';
import https from 'node:https';
import { PermissionDeniedError } from '../../../shared/errors.js';
import type { ImageSourcePolicy } from '../source-policy.js';
import { readExactly, SourceError, type PieceSource, type RangeOptions } from './piece-source.js';

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 30_000;
// The manifest sits beside the image on the repository: `<image URL>.pieces.json` (written by `vonode image-manifest FILE`).
export const MANIFEST_SUFFIX = '.pieces.json';
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/**
 * The image repository as a piece source: HTTP(S) range requests (every URL
 * and redirect checked against images.sources, as for a whole download), or
 * positioned reads of a file:// image inside an allowed directory.
 */
export class RepositorySource implements PieceSource {
  readonly name = 'repository';
  readonly kind = 'repository' as const;

  constructor(
    private readonly url: URL,
    private readonly policy: ImageSourcePolicy,
  ) {}

  fetchRange(_sha256: string, start: number, end: number, opts: RangeOptions): Promise<Buffer> {
    const url = this.policy.check(this.url);
    if (url.protocol === 'file:') return this.readFileRange(url, start, end);
    return this.get(url, { range: `bytes=${start}-${end - 1}` }, 0, async (res, at) => {
      if (res.statusCode === 206) return readExactly(res, end - start, `GET ${at.href} bytes ${start}-${end - 1}`, opts);
      res.resume();
      // A 200 would be the whole image: a repository without range support cannot serve pieces.
      throw new SourceError(`GET ${at.href} answered HTTP ${res.statusCode} to a range request: the repository must support byte ranges`, res.statusCode === 404 ? 'absent' : 'failed');
    }, opts.signal);
  }

  async fetchManifest(_sha256: string, signal?: AbortSignal): Promise<string | undefined> {
    let url: URL;
    try {
      url = this.policy.check(new URL(`${this.url.href}${MANIFEST_SUFFIX}`));
    } catch (e) {
      if (e instanceof PermissionDeniedError) return undefined;
      throw e;
    }
    if (url.protocol === 'file:') {
      const handle = await this.policy.openLocal(url).catch((e: unknown) => {
        if (e instanceof PermissionDeniedError) throw e;
        return undefined; // no manifest published beside the image
      });
      if (!handle) return undefined;
      try {
        const info = await handle.stat();
        if (!info.isFile() || info.size > MAX_MANIFEST_BYTES) return undefined;
        return await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    }
    return this.get(url, {}, 0, async (res, at) => {
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      if (res.statusCode !== 200) {
        res.resume();
        throw new SourceError(`GET ${at.href} answered HTTP ${res.statusCode}`, 'failed');
      }
      const length = Number(res.headers['content-length'] ?? NaN);
      if (!(length >= 0 && length <= MAX_MANIFEST_BYTES)) {
        res.resume();
        throw new SourceError(`GET ${at.href}: a piece manifest must declare its length (at most ${MAX_MANIFEST_BYTES} bytes)`, 'failed');
      }
      return (await readExactly(res, length, `GET ${at.href}`, { signal })).toString('utf8');
    }, signal);
  }

  private async readFileRange(url: URL, start: number, end: number): Promise<Buffer> {
    const handle = await this.policy.openLocal(url).catch((e: NodeJS.ErrnoException) => {
      if (e instanceof PermissionDeniedError) throw e;
      throw new SourceError(`cannot read ${url.href} (${e.code ?? e.message})`, e.code === 'ENOENT' ? 'absent' : 'failed');
    });
    try {
      const buf = Buffer.alloc(end - start);
      const { bytesRead } = await handle.read(buf, 0, buf.length, start);
      if (bytesRead !== buf.length) throw new SourceError(`${url.href} is shorter than the manifest says`, 'failed');
      return buf;
    } finally {
      await handle.close();
    }
  }

  /** One GET following only redirects images.sources allows. */
  private get<T>(url: URL, headers: Record<string, string>, redirects: number, onResponse: (res: http.IncomingMessage, at: URL) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const get = url.protocol === 'https:' ? https.get : http.get;
    return new Promise<T>((resolve, reject) => {
      const req = get(url, { headers, ...(signal ? { signal } : {}) }, (res) => {
        const code = res.statusCode ?? 0;
        if (code >= 300 && code < 400 && res.headers.location) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) return reject(new SourceError(`${url.href}: more than ${MAX_REDIRECTS} redirects`, 'failed'));
          let next: URL;
          try {
            next = this.policy.checkRedirect(res.headers.location, url);
          } catch (e) {
            return reject(e);
          }
          return resolve(this.get(next, headers, redirects + 1, onResponse, signal));
        }
        onResponse(res, url).then(resolve, (e: unknown) => reject(e instanceof SourceError || (e as Error).name === 'AbortError' ? e : new SourceError(`GET ${url.href}: ${(e as Error).message}`, 'down')));
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new SourceError(`GET ${url.href}: no data for ${IDLE_TIMEOUT_MS / 1000} s`, 'down')));
      req.on('error', (e) => reject(e instanceof SourceError || e.name === 'AbortError' ? e : new SourceError(`GET ${url.href}: ${e.message}`, 'down')));
    });
  }
}
