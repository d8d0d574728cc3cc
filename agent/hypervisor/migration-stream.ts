import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileDigest } from '../../shared/fs/file-digest.js';

/** Size and sha256 of a stream that went through (the same shape as a file's digest). */
export type StreamDigest = FileDigest;

/** A pass-through that counts and hashes what it passes. */
function digesting(): { transform: Transform; digest: () => StreamDigest } {
  const hash = createHash('sha256');
  let bytes = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { transform, digest: () => ({ bytes, sha256: hash.digest('hex') }) };
}

/**
 * Listens on `socketPath` for one connection (the hypervisor's outgoing
 * migration) and writes what it sends to `filePath`. `listening` resolves
 * once the socket accepts; `done` with the file's digest when the sender
 * closed and the file is written.
 */
export async function receiveToFile(socketPath: string, filePath: string): Promise<{ done: Promise<StreamDigest>; close: () => void }> {
  await rm(socketPath, { force: true });
  let server: Server | undefined;
  const done = new Promise<StreamDigest>((resolve, reject) => {
    server = createServer((conn) => {
      server?.close();
      const d = digesting();
      pipeline(conn, d.transform, createWriteStream(filePath)).then(() => resolve(d.digest()), reject);
    });
    server.on('error', reject);
  });
  done.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen(socketPath, () => resolve());
  });
  return { done, close: () => server?.close() };
}

/** Connects to `socketPath` (the hypervisor's incoming migration) and streams `filePath` into it. Resolves with what was sent. */
export async function sendFile(socketPath: string, filePath: string): Promise<StreamDigest> {
  const conn = createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  const d = digesting();
  await pipeline(createReadStream(filePath, { highWaterMark: 1 << 20 }), d.transform, conn);
  return d.digest();
}

