import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Debian's chromium (installed by scripts/lib/install-deps.sh). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * The SPKI pin of a server certificate, as chromium's
 * --ignore-certificate-errors-spki-list takes it: base64 of the sha256 of
 * its public key. The browser then trusts exactly that key (the site CA is
 * not in its store), and nothing else: every other certificate error stays one.
 */
export async function spkiPin(certFile: string): Promise<string> {
  const cert = new X509Certificate(await readFile(certFile));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * Starts Debian's chromium headless through puppeteer-core, trusting the
 * console's certificate by its key (`pinnedCert`). As root chromium needs
 * --no-sandbox (it refuses to run otherwise); the page's own origin
 * isolation is unaffected.
 */
export async function launchConsoleBrowser(pinnedCert: string, size = { width: 1400, height: 900 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/lib/install-deps.sh does)`);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    defaultViewport: size,
    args: [
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions', '--disable-background-networking',
      `--ignore-certificate-errors-spki-list=${await spkiPin(pinnedCert)}`,
    ],
  });
}
