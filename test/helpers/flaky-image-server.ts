// A real HTTP image repository for integration tests of the image cache, on
// node:http at 127.0.0.1:<ephemeral>, whose misbehaviour a test scripts per
// request: cut the connection mid-body, ignore Range, corrupt bytes, declare
// a short Content-Length, serve a truncated file as if whole, fail with an
// HTTP status, or redirect. It records every request and the body bytes it
// actually sent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the server answers one request (all off = a correct Range-capable server). */
export interface Misbehaviour {
  /** Answer 200 with the whole file even when the request has a Range header. */
  ignoreRange?: boolean;
  /** Declare the full Content-Length but destroy the connection after this many body bytes. */
  cutAfterBytes?: number;
  /** Flip one byte of the body (at this offset of the file). */
  corruptAt?: number;
  /** Declare and send only this many body bytes: a complete HTTP response that is a truncated file. */
  shortLength?: number;
  /**
   * Declare the whole file (Content-Length, Content-Range) but close the
   * connection once the body reaches this file offset, on a resume too: a
   * repository serving a truncated file as if it were whole.
   */
  endsAtFileOffset?: number;
  /** Answer with this HTTP status and no body (e.g. 503: a failing repository). */
  status?: number;
  /** Answer 302 with this Location. */
  redirect?: string;
}

/** What the server saw and did for one request. */
export interface ServedRequest {
  path: string;
  range: string | undefined;
  status: number;
  bytesSent: number;
}

/** Serves in-memory files with Range support; `plan()` scripts the next responses. */
export class FlakyImageServer {
  readonly requests: ServedRequest[] = [];
  /** Requests for `<image>.pieces.json` (answered 404, not in `requests`). */
  manifestProbes = 0;
  private readonly files = new Map<string, Buffer>();
  private readonly queue: Misbehaviour[] = [];
  private server: Server | undefined;
  /** Applied to every request that has no planned misbehaviour. */
  always: Misbehaviour = {};

  /** Publishes `data` at `/<name>`; returns its URL. */
  put(name: string, data: Buffer): string {
    this.files.set(name, data);
    return this.url(name);
  }

  url(name: string): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}/${name}`;
  }

  /** Queues misbehaviours for the next requests, in order. */
  plan(...next: Misbehaviour[]): void {
    this.queue.push(...next);
  }

  /** Body bytes sent over all requests. */
  bytesSent(): number {
    return this.requests.reduce((sum, r) => sum + r.bytesSent, 0);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', resolve);
    });
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const name = (req.url ?? '/').replace(/^\/+/, '');
    // This repository publishes no piece manifests (the whole-file protocol is under test): the cache's probe for one
    // is answered 404 and neither logged nor given a queued misbehaviour.
    if (name.endsWith('.pieces.json') && !this.files.has(name)) {
      this.manifestProbes++;
      res.writeHead(404).end();
      return;
    }
    const how = this.queue.shift() ?? this.always;
    const seen: ServedRequest = { path: `/${name}`, range: req.headers.range, status: 404, bytesSent: 0 };
    this.requests.push(seen);
    if (how.redirect !== undefined || how.status !== undefined) {
      seen.status = how.redirect !== undefined ? 302 : how.status!;
      res.writeHead(seen.status, how.redirect !== undefined ? { location: how.redirect } : {}).end();
      return;
    }
    const file = this.files.get(name);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const m = how.ignoreRange || !req.headers.range ? null : /^bytes=(\d+)-$/.exec(req.headers.range);
    const start = m ? Number(m[1]) : 0;
    if (start >= file.length && m) {
      seen.status = 416;
      res.writeHead(416, { 'content-range': `bytes */${file.length}` }).end();
      return;
    }
    let body = Buffer.from(file.subarray(start));
    if (how.corruptAt !== undefined && how.corruptAt >= start) body.writeUInt8(body.readUInt8(how.corruptAt - start) ^ 0xff, how.corruptAt - start);
    if (how.shortLength !== undefined) body = body.subarray(0, how.shortLength);
    seen.status = m ? 206 : 200;
    res.writeHead(seen.status, {
      'content-length': String(body.length),
      'accept-ranges': 'bytes',
      ...(m ? { 'content-range': `bytes ${start}-${file.length - 1}/${file.length}` } : {}),
    });
    const cut = how.endsAtFileOffset !== undefined ? Math.max(0, how.endsAtFileOffset - start) : how.cutAfterBytes;
    if (cut === undefined) {
      seen.bytesSent = body.length;
      res.end(body);
      return;
    }
    // Flushed to the kernel, then a pause so the client can consume them before the close: an aborted
    // response drops what the client had received but not yet read, so the client may keep fewer bytes.
    const part = body.subarray(0, cut);
    res.flushHeaders(); // the headers go out even when no body byte does
    seen.bytesSent = part.length;
    if (part.length === 0) setTimeout(() => res.destroy(), 50);
    else res.write(part, () => setTimeout(() => res.destroy(), 50));
  }
}
