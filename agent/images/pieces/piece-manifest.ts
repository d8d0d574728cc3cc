import { createHash, type Hash } from 'node:crypto';
import { z } from 'zod';

/**
 * Default piece size. A host passes a piece on only once it verified it, so
 * each host of a chain lags its upstream by about one piece's transfer time:
 * 1 MiB is 0.08 s at 100 Mbit/s (1.3 s over 16 hosts), and still only one
 * request per MiB. Measured with 4 MiB pieces and 4 in flight: 16 hosts on
 * 10 Mbit/s links took 3.7 times one host's copy.
 */
export const DEFAULT_PIECE_BYTES = 1024 * 1024;
export const MIN_PIECE_BYTES = 64 * 1024;
export const MAX_PIECE_BYTES = 64 * 1024 * 1024;
/** 10 GiB in 64 KiB pieces; bounds what a manifest from a peer or repository can make the agent allocate. */
export const MAX_PIECES = 163_840;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase sha256');

/**
 * The per-piece sha256 list of an image: piece i covers bytes
 * [i*pieceBytes, min((i+1)*pieceBytes, sizeBytes)). A piece is served to or
 * taken from a peer only once it hashes to its entry; the image as a whole
 * is still checked against `sha256` before any VM boots from it, which also
 * catches a manifest whose entries do not belong to the image.
 */
export interface PieceManifest {
  sha256: string;
  sizeBytes: number;
  pieceBytes: number;
  pieces: string[];
}

const manifestSchema = z.strictObject({
  sha256: hex64,
  sizeBytes: z.number().int().min(1).max(MAX_PIECES * MAX_PIECE_BYTES),
  pieceBytes: z.number().int().min(MIN_PIECE_BYTES).max(MAX_PIECE_BYTES).refine((n) => n % MIN_PIECE_BYTES === 0, 'must be a multiple of 64 KiB'),
  pieces: z.array(hex64).min(1).max(MAX_PIECES),
});

/** A manifest that cannot be used for the image asked for. */
export class ManifestError extends Error {}

/** Number of pieces of an image of `sizeBytes` in pieces of `pieceBytes`. */
export function pieceCount(sizeBytes: number, pieceBytes: number): number {
  return Math.ceil(sizeBytes / pieceBytes);
}

/** Byte range [start, end) of piece `index`. */
export function pieceRange(m: Pick<PieceManifest, 'sizeBytes' | 'pieceBytes'>, index: number): { start: number; end: number } {
  const start = index * m.pieceBytes;
  return { start, end: Math.min(start + m.pieceBytes, m.sizeBytes) };
}

/**
 * Parses and checks a manifest (from a peer, the repository, or disk)
 * against the image requested: same sha256, consistent piece count, and the
 * request's size when it names one. Throws ManifestError.
 */
export function parseManifest(text: string, expect: { sha256: string; sizeBytes?: number }): PieceManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ManifestError('the piece manifest is not JSON');
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new ManifestError(`the piece manifest is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`);
  const m = parsed.data;
  if (m.sha256 !== expect.sha256) throw new ManifestError(`the piece manifest is for image ${m.sha256}, not ${expect.sha256}`);
  if (expect.sizeBytes && m.sizeBytes !== expect.sizeBytes) throw new ManifestError(`the piece manifest says ${m.sizeBytes} bytes; the request says ${expect.sizeBytes}`);
  if (m.pieces.length !== pieceCount(m.sizeBytes, m.pieceBytes)) throw new ManifestError(`the piece manifest lists ${m.pieces.length} pieces; ${m.sizeBytes} bytes in ${m.pieceBytes}-byte pieces make ${pieceCount(m.sizeBytes, m.pieceBytes)}`);
  return m;
}

/**
 * Hashes a stream of bytes (in order) both whole and per piece, so one pass
 * over an image yields its sha256 and its manifest.
 */
export class PieceHasher {
  private readonly whole: Hash = createHash('sha256');
  private piece: Hash = createHash('sha256');
  private inPiece = 0;
  private total = 0;
  private readonly pieces: string[] = [];

  constructor(readonly pieceBytes: number) {}

  update(chunk: Buffer): void {
    this.whole.update(chunk);
    this.total += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(this.pieceBytes - this.inPiece, chunk.length - at);
      this.piece.update(chunk.subarray(at, at + take));
      this.inPiece += take;
      at += take;
      if (this.inPiece === this.pieceBytes) this.closePiece();
    }
  }

  /** The whole-image digest and the manifest (call once, after the last byte). */
  finish(): { sha256: string; manifest: PieceManifest } {
    if (this.inPiece > 0 || this.pieces.length === 0) this.closePiece();
    const sha256 = this.whole.digest('hex');
    return { sha256, manifest: { sha256, sizeBytes: this.total, pieceBytes: this.pieceBytes, pieces: this.pieces } };
  }

  private closePiece(): void {
    this.pieces.push(this.piece.digest('hex'));
    this.piece = createHash('sha256');
    this.inPiece = 0;
  }
}

/** sha256 of one piece's bytes. */
export function pieceDigest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
