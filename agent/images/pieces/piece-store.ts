import { createHash, type Hash } from 'node:crypto';
import { open, readFile, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../../dhcp/atomic-file.js';
import { parseManifest, pieceDigest, pieceRange, type PieceManifest } from './piece-manifest.js';

/** A piece whose bytes do not hash to the manifest's entry. */
export class CorruptPieceError extends Error {
  constructor(readonly index: number, source: string) {
    super(`piece ${index} from ${source} does not match its sha256 in the manifest`);
  }
}

// The record of verified pieces is rewritten at most this often: a crash loses at most this much of the record, and those pieces are fetched again.
const SAVE_EVERY_MS = 1000;

/**
 * An image being assembled piece by piece: `<sha>.data` (sized to the image,
 * written at each piece's offset) and `<sha>.pieces.json` (the manifest and
 * the verified pieces). Only pieces that hashed to their manifest entry are
 * recorded, and only recorded pieces are ever read out (served to peers), so
 * a peer never gets bytes this host has not checked. Reopened after a
 * restart, every recorded piece is hashed again from disk (a piece recorded
 * just before a crash may not have reached the disk) and the download goes
 * on from there.
 *
 * The whole-image sha256 is computed as pieces complete in order, so the
 * final check costs no second read when pieces arrive roughly in order.
 */
export class PieceStore {
  private readonly have: Uint8Array;
  private haveCount = 0;
  private readonly waiters = new Map<number, Set<(ok: boolean) => void>>();
  private readonly whole: Hash = createHash('sha256');
  private hashedPieces = 0;
  private lastSaveMs = 0;
  private saveTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    readonly manifest: PieceManifest,
    readonly dataPath: string,
    private readonly recordPath: string,
    private readonly handle: FileHandle,
  ) {
    this.have = new Uint8Array(manifest.pieces.length);
  }

  /**
   * Opens (or creates) the partial image for `manifest`. A record for another
   * manifest (other piece size) is discarded with its data.
   */
  static async open(manifest: PieceManifest, dataPath: string, recordPath: string): Promise<PieceStore> {
    const record = await readFile(recordPath, 'utf8').then(parseRecord, () => undefined);
    let recorded: number[] = [];
    if (record && sameManifest(record.manifest, manifest)) recorded = [...new Set(record.have.filter((i) => Number.isInteger(i) && i >= 0 && i < manifest.pieces.length))];
    else await rm(dataPath, { force: true });
    const size = await stat(dataPath).then((s) => s.size, () => -1);
    const handle = await open(dataPath, size < 0 ? 'w+' : 'r+');
    if (size !== manifest.sizeBytes) await truncate(dataPath, manifest.sizeBytes);
    const store = new PieceStore(manifest, dataPath, recordPath, handle);
    for (const i of recorded) {
      if (pieceDigest(await store.readRaw(i)) === manifest.pieces[i]) store.mark(i);
    }
    await store.save();
    return store;
  }

  get pieceCount(): number {
    return this.have.length;
  }

  get verifiedCount(): number {
    return this.haveCount;
  }

  get complete(): boolean {
    return this.haveCount === this.have.length;
  }

  has(index: number): boolean {
    return this.have[index] === 1;
  }

  /** Indices still missing, lowest first. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.have.length; i++) if (!this.have[i]) out.push(i);
    return out;
  }

  /** Verified bytes so far. */
  verifiedBytes(): number {
    let sum = 0;
    for (let i = 0; i < this.have.length; i++) if (this.have[i]) sum += this.pieceLength(i);
    return sum;
  }

  pieceLength(index: number): number {
    const r = pieceRange(this.manifest, index);
    return r.end - r.start;
  }

  /** Checks `bytes` against the manifest, writes them and records the piece. Throws CorruptPieceError (nothing written). */
  async write(index: number, bytes: Buffer, source: string): Promise<void> {
    if (this.has(index)) return;
    if (bytes.length !== this.pieceLength(index) || pieceDigest(bytes) !== this.manifest.pieces[index]) throw new CorruptPieceError(index, source);
    await this.handle.write(bytes, 0, bytes.length, pieceRange(this.manifest, index).start);
    if (this.has(index) || this.closed) return;
    this.mark(index);
    if (index === this.hashedPieces) {
      this.whole.update(bytes);
      this.hashedPieces++;
    }
    this.scheduleSave();
  }

  /** Bytes of a verified piece. Throws if the piece is not verified. */
  async read(index: number): Promise<Buffer> {
    if (!this.has(index)) throw new Error(`piece ${index} is not verified`);
    return this.readRaw(index);
  }

  /**
   * Resolves true once piece `index` is verified, false after `timeoutMs` or
   * when the download ends without it.
   */
  waitFor(index: number, timeoutMs: number): Promise<boolean> {
    if (this.has(index)) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const set = this.waiters.get(index) ?? new Set();
      this.waiters.set(index, set);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        set.delete(done);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      set.add(done);
    });
  }

  /** The whole-image sha256 (every piece must be verified); hashes from disk what did not arrive in order. */
  async wholeDigest(): Promise<string> {
    if (!this.complete) throw new Error('the image is not complete');
    while (this.hashedPieces < this.have.length) this.whole.update(await this.readRaw(this.hashedPieces++));
    return this.whole.digest('hex');
  }

  /** Saves the record and closes the file; waiters are told the piece will not come. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.saveTimer);
    for (const set of this.waiters.values()) for (const w of [...set]) w(false);
    await this.save().catch(() => undefined);
    await this.handle.close();
  }

  /** Deletes the record (the data file is renamed into the cache, or deleted, by the caller). */
  async discardRecord(): Promise<void> {
    await rm(this.recordPath, { force: true });
  }

  private mark(index: number): void {
    if (this.have[index]) return;
    this.have[index] = 1;
    this.haveCount++;
    const set = this.waiters.get(index);
    if (set) for (const w of [...set]) w(true);
    this.waiters.delete(index);
  }

  private async readRaw(index: number): Promise<Buffer> {
    const { start, end } = pieceRange(this.manifest, index);
    // Not zero-filled: the file is sized to the image, so the read fills it whole (a short read is refused).
    const buf = Buffer.allocUnsafe(end - start);
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, start);
    if (bytesRead !== buf.length) throw new Error(`piece ${index}: the data file is shorter than the image`);
    return buf;
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    const wait = Math.max(0, this.lastSaveMs + SAVE_EVERY_MS - Date.now());
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      if (!this.closed) void this.save().catch(() => undefined);
    }, wait);
    this.saveTimer.unref();
  }

  private async save(): Promise<void> {
    this.lastSaveMs = Date.now();
    const have: number[] = [];
    for (let i = 0; i < this.have.length; i++) if (this.have[i]) have.push(i);
    await writeFileAtomic(this.recordPath, JSON.stringify({ manifest: this.manifest, have }));
  }
}

/** A record file, or undefined when it is damaged (then the download starts over). */
function parseRecord(text: string): { manifest: unknown; have: number[] } | undefined {
  try {
    const r = JSON.parse(text) as { manifest?: unknown; have?: unknown };
    return Array.isArray(r.have) ? { manifest: r.manifest, have: r.have.filter((i): i is number => typeof i === 'number') } : undefined;
  } catch {
    return undefined;
  }
}

function sameManifest(saved: unknown, m: PieceManifest): boolean {
  try {
    const s = parseManifest(JSON.stringify(saved), { sha256: m.sha256 });
    return s.pieceBytes === m.pieceBytes && s.sizeBytes === m.sizeBytes && s.pieces.every((p, i) => p === m.pieces[i]);
  } catch {
    return false;
  }
}
