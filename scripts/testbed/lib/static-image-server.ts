import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Options of the testbed's image repository. */
export interface ImageServerOptions {
  /** Told the bytes of every complete response (tests count what the repository sent). */
  onServed?(bytes: number): void;
  dir: string;
  /** Cap on the bytes/s sent per response (models the link to the image repository); 0 = unlimited. */
  rateBytesPerSec?: number;
}

/** One link shared by every response: each chunk books the next free slot on it. */
class Link {
  private freeAt = 0;
  constructor(private readonly bytesPerSec: number) {}
  /** Milliseconds from now until `bytes` have crossed the link. */
  book(bytes: number): number {
    const now = Date.now();
    this.freeAt = Math.max(now, this.freeAt) + (bytes / this.bytesPerSec) * 1000;
    return this.freeAt - now;
  }
}

/** Holds each chunk until the shared link has carried it. */
class RateLimit extends Transform {
  constructor(private readonly link: Link) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    setTimeout(() => done(null, chunk), this.link.book(chunk.length));
  }
}

/** Parses "bytes=N-" / "bytes=N-M"; undefined when absent or unsatisfiable. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = header ? /^bytes=(\d+)-(\d*)$/.exec(header) : null;
  if (!m?.[1]) return undefined;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start <= end ? { start, end } : undefined;
}

async function serve(options: ImageServerOptions, link: Link | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let name: string;
  try {
    name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
  } catch {
    res.writeHead(400).end('bad percent-encoding\n');
    return;
  }
  const root = path.resolve(options.dir);
  const file = path.resolve(root, name);
  // Files of the served tree only (e.g. bio/disk.qcow2), nothing above it.
  if (!name || name.split('/').includes('..') || !file.startsWith(`${root}${path.sep}`)) {
    res.writeHead(404).end();
    return;
  }
  const size = await stat(file).then((s) => (s.isFile() ? s.size : -1), () => -1);
  if (size < 0) {
    res.writeHead(404).end();
    return;
  }
  const range = parseRange(req.headers.range, size);
  if (req.headers.range && !range) {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  res.writeHead(range ? 206 : 200, {
    'content-length': String(end - start + 1),
    'accept-ranges': 'bytes',
    ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
  });
  const body = createReadStream(file, { start, end });
  await (link ? pipeline(body, new RateLimit(link), res) : pipeline(body, res));
  options.onServed?.(end - start + 1);
}

/** Starts an HTTP image repository serving the files of one directory, with Range support. */
export function startImageServer(options: ImageServerOptions, host: string, port: number): Promise<Server> {
  // All responses share one link, as all hosts share the site's uplink to the repository.
  const link = options.rateBytesPerSec ? new Link(options.rateBytesPerSec) : undefined;
  const server = createServer((req, res) => {
    serve(options, link, req, res).catch(() => res.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
