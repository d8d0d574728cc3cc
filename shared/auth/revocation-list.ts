import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import { FileWatch } from '../fs/file-watch.js';
import { CrlError, verifyCrl, type VerifiedCrl } from './crl.js';
import { normalizeSerial } from './peer-identity.js';

/** Lifecycle of the watched list. */
export type RevocationListState = 'loaded' | 'watching' | 'stopped';

/**
 * The site's certificate revocation list (tls.crl), reloaded when the file
 * changes. A replacement that does not parse or verify is refused and the
 * last good list stays in force (a broken file must never un-revoke anyone);
 * a stale list (past its nextUpdate) is still enforced, with a warning.
 */
export class RevocationList {
  state: RevocationListState = 'loaded';
  private watch: FileWatch | undefined;
  private fingerprint = '';

  private constructor(
    private readonly file: string,
    private readonly caKey: X509Certificate['publicKey'],
    private crl: VerifiedCrl,
    private readonly logger: Logger,
  ) {}

  /** Reads and verifies the CRL against the CA certificate. Throws CrlError naming the file. */
  static async load(file: string, caFile: string, logger: Logger): Promise<RevocationList> {
    const ca = new X509Certificate(await readFile(caFile));
    const list = new RevocationList(file, ca.publicKey, { serials: new Set(), nextUpdate: undefined }, logger);
    list.crl = await list.read();
    return list;
  }

  /** How many serials are revoked. */
  get size(): number {
    return this.crl.serials.size;
  }

  /** True if the certificate with this serial (any hex spelling) is revoked. */
  isRevoked(serial: string): boolean {
    return this.crl.serials.has(normalizeSerial(serial));
  }

  /** Starts reloading on change (inotify plus a slow poll that only re-reads a changed file). */
  async startWatching(pollMs = 2000): Promise<void> {
    this.watch = new FileWatch(this.file, () => void this.reload(), pollMs);
    await this.watch.start();
    this.state = 'watching';
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    await this.watch?.stop();
    this.state = 'stopped';
  }

  /** Re-reads the file if it changed; keeps the old list when the new one is bad. */
  async reload(): Promise<void> {
    const seen = await stat(this.file).then((s) => `${s.mtimeMs}:${s.size}:${s.ino}`, () => 'missing');
    if (seen === this.fingerprint) return;
    try {
      const next = await this.read();
      const before = this.crl.serials.size;
      this.crl = next;
      this.logger.info({ file: this.file, revoked: next.serials.size, before }, 'certificate revocation list reloaded');
    } catch (e) {
      this.logger.error({ file: this.file, err: (e as Error).message }, 'new certificate revocation list refused; the previous one stays in force');
    }
  }

  private async read(): Promise<VerifiedCrl> {
    let data: Buffer;
    try {
      const s = await stat(this.file);
      data = await readFile(this.file);
      this.fingerprint = `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch (e) {
      throw new CrlError(`${this.file}: cannot read the CRL (${(e as Error).message}); make it with scripts/pki/make-site-pki.sh DIR --revoke NAME or drop tls.crl`);
    }
    let crl: VerifiedCrl;
    try {
      crl = verifyCrl(data, this.caKey);
    } catch (e) {
      throw new CrlError(`${this.file}: ${(e as Error).message}`);
    }
    if (crl.nextUpdate && crl.nextUpdate.getTime() < Date.now()) {
      this.logger.warn({ file: this.file, nextUpdate: crl.nextUpdate.toISOString() }, 'the CRL is past its next update; it is still enforced: re-issue it (make-site-pki.sh re-signs it on every run)');
    }
    return crl;
  }
}
