import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Options of the testbed's image repository. */
export interface ImageServerOptions {
  dir: string;
  /** Cap on the bytes/s sent per response (models the link to the image repository); 0 = unlimited. */
  rateBytesPerSec?: number;
}

/** Throttles a stream to a byte rate with a simple token bucket. */
class RateLimit extends Transform {
  private readonly start = Date.now();
  private sent = 0;
  constructor(private readonly rate: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.sent += chunk.length;
    const due = this.start + (this.sent / this.rate) * 1000;
    setTimeout(() => done(null, chunk), Math.max(0, due - Date.now()));
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

async function serve(options: ImageServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
  const file = path.join(options.dir, name);
  if (!name || name.includes('..') || path.dirname(file) !== path.resolve(options.dir)) {
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
  await (options.rateBytesPerSec ? pipeline(body, new RateLimit(options.rateBytesPerSec), res) : pipeline(body, res));
}

/** Starts an HTTP image repository serving the files of one directory, with Range support. */
export function startImageServer(options: ImageServerOptions, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    serve(options, req, res).catch(() => res.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
