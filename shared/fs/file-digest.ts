import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Size and sha256 (hex) of a file's content. */
export interface FileDigest {
  bytes: number;
  sha256: string;
}

/** Reads `file` once in 1 MiB chunks and returns its size and sha256. Rejects when it cannot be read. */
export async function digestFile(file: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}
