import { createPrivateKey, X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CrlError } from '../auth/crl.js';
import { describeIdentity } from '../auth/peer-identity.js';
import { RevocationList } from '../auth/revocation-list.js';
import { checkOwnCertificate, type OwnIdentity } from '../auth/site-trust.js';
import { ConfigError } from '../config/load-yaml.js';
import { errorMessage } from '../errors.js';
import { silentLogger } from '../logger.js';

// Read-only checks behind `--check`: each looks at a file, a directory or a
// program the daemon's start would use, and returns what is wrong with it and
// what to do, or undefined. Nothing here creates, opens for writing or
// changes anything.

/** One thing `--check` found: the config field (or file) it concerns and what to do about it. */
export interface PreflightProblem {
  /** Config field, e.g. `tls.cert` or `stateDb`. */
  field: string;
  /** What is wrong and what to do. */
  message: string;
}

/** Files of a mutual-TLS setup; `crl` (the site CRL) is checked when the config has one. */
export interface TlsFilePaths {
  ca: string;
  cert: string;
  key: string;
  crl?: string | undefined;
}

/** `field: message`, the way `--check` prints a problem. */
export function formatPreflightProblem(p: PreflightProblem): string {
  return `${p.field}: ${p.message}`;
}

/** Why `file` cannot be read, or its text. */
async function readText(field: string, file: string): Promise<{ text: string } | { problem: PreflightProblem }> {
  try {
    return { text: await readFile(file, 'utf8') };
  } catch (e) {
    return { problem: { field, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path and its permissions` } };
  }
}

/**
 * The TLS files the daemon hands to gRPC: each readable and a PEM of the
 * right kind, the key the certificate's, the certificate issued by the CA
 * and within its validity. `nowMs` is the wall clock (a parameter for tests).
 */
export async function checkTlsFiles(tls: TlsFilePaths, nowMs: number = Date.now()): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = [];
  const remake = 'make it with scripts/pki/make-site-pki.sh or point the field at the right file';
  const ca = await readText('tls.ca', tls.ca);
  const cert = await readText('tls.cert', tls.cert);
  const key = await readText('tls.key', tls.key);
  let caCert: X509Certificate | undefined;
  let ownCert: X509Certificate | undefined;
  if ('problem' in ca) problems.push(ca.problem);
  else {
    try {
      caCert = new X509Certificate(ca.text);
    } catch {
      problems.push({ field: 'tls.ca', message: `${tls.ca} is not a PEM certificate (-----BEGIN CERTIFICATE-----); ${remake}` });
    }
  }
  if ('problem' in cert) problems.push(cert.problem);
  else {
    try {
      ownCert = new X509Certificate(cert.text);
    } catch {
      problems.push({ field: 'tls.cert', message: `${tls.cert} is not a PEM certificate (-----BEGIN CERTIFICATE-----); ${remake}` });
    }
  }
  if ('problem' in key) problems.push(key.problem);
  else {
    try {
      const privateKey = createPrivateKey(key.text);
      if (ownCert && !ownCert.checkPrivateKey(privateKey)) {
        problems.push({ field: 'tls.key', message: `${tls.key} is not the private key of ${tls.cert}; give the key made with that certificate` });
      }
    } catch {
      problems.push({ field: 'tls.key', message: `${tls.key} is not a PEM private key (-----BEGIN PRIVATE KEY-----) or is encrypted; ${remake}` });
    }
  }
  if (ownCert) {
    if (caCert && !ownCert.checkIssued(caCert)) {
      problems.push({ field: 'tls.cert', message: `${tls.cert} was not issued by the CA in ${tls.ca}; peers would refuse it: issue it from the site CA` });
    }
    if (Date.parse(ownCert.validTo) < nowMs) {
      problems.push({ field: 'tls.cert', message: `${tls.cert} expired on ${ownCert.validTo}; issue a new certificate` });
    } else if (Date.parse(ownCert.validFrom) > nowMs) {
      problems.push({ field: 'tls.cert', message: `${tls.cert} is not valid before ${ownCert.validFrom}; check this host's clock or reissue it` });
    }
  }
  return problems;
}

/**
 * What the daemon's start checks of its identity (shared/auth/site-trust.ts,
 * the same functions): its certificate carries the role it runs as (and,
 * for a registering agent, its host name), the CRL loads and verifies
 * against the CA, and it does not revoke the daemon's own certificate.
 * Call once checkTlsFiles passed. Read-only: the CRL is read, not watched.
 */
export async function checkOwnIdentity(tls: TlsFilePaths, own: OwnIdentity): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = [];
  const fromConfigError = (e: ConfigError): PreflightProblem[] =>
    e.problems.map((line) => {
      const at = line.indexOf(': ');
      return at > 0 ? { field: line.slice(0, at), message: line.slice(at + 2) } : { field: 'tls', message: line };
    });
  let serial: string | undefined;
  let identity = '';
  try {
    const id = await checkOwnCertificate(tls.cert, own, 'tls');
    serial = id.serial;
    identity = describeIdentity(id);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...fromConfigError(e));
  }
  if (tls.crl !== undefined) {
    try {
      const crl = await RevocationList.load(tls.crl, tls.ca, silentLogger());
      if (serial !== undefined && crl.isRevoked(serial)) {
        problems.push({ field: 'tls.cert', message: `this daemon's own certificate ${identity} is revoked by ${tls.crl}: issue it a new one` });
      }
    } catch (e) {
      const message = e instanceof CrlError ? e.message : `cannot read ${tls.crl}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}; check the path and its permissions`;
      problems.push({ field: 'tls.crl', message });
    }
  }
  return problems;
}

/** The closest existing ancestor of `p` (p itself if it exists). */
async function existingAncestor(p: string): Promise<{ path: string; isDirectory: boolean }> {
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    try {
      return { path: at, isDirectory: (await stat(at)).isDirectory() };
    } catch {
      if (at === path.dirname(at)) return { path: at, isDirectory: true };
    }
  }
}

/**
 * A directory the daemon will write in (creating it if missing): it exists
 * and is writable, or the closest existing ancestor is a writable directory
 * so the daemon can create it. Creates nothing.
 */
export async function checkWritableDir(field: string, dir: string): Promise<PreflightProblem | undefined> {
  const found = await existingAncestor(dir);
  if (!found.isDirectory) return { field, message: `${found.path} is not a directory, so ${dir} cannot be one; fix the path` };
  try {
    await access(found.path, constants.W_OK | constants.X_OK);
    return undefined;
  } catch {
    const what = found.path === path.resolve(dir) ? `${dir} is not writable` : `${dir} does not exist and ${found.path} is not writable, so it cannot be made`;
    return { field, message: `${what} by this user; create it with the right owner or change the path` };
  }
}

/**
 * A file the daemon will create or open for writing: an existing one is a
 * readable and writable regular file, a missing one has a directory where
 * it can be made (see checkWritableDir). Creates nothing.
 */
export async function checkWritableFile(field: string, file: string): Promise<PreflightProblem | undefined> {
  let isFile: boolean;
  try {
    isFile = (await stat(file)).isFile();
  } catch {
    return checkWritableDir(field, path.dirname(file));
  }
  if (!isFile) return { field, message: `${file} is not a regular file; fix the path` };
  try {
    await access(file, constants.R_OK | constants.W_OK);
    return undefined;
  } catch {
    return { field, message: `${file} is not readable and writable by this user; fix its owner or mode` };
  }
}

/** A file the daemon only reads: it exists and is readable. */
export async function checkReadableFile(field: string, file: string): Promise<PreflightProblem | undefined> {
  try {
    await access(file, constants.R_OK);
    return undefined;
  } catch (e) {
    return { field, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path and its permissions` };
  }
}

/**
 * Where `program` would be run from: itself if it contains a slash, else the
 * first executable of that name on `searchPath` (PATH syntax). Undefined when
 * there is none.
 */
export async function findExecutable(program: string, searchPath: string = process.env['PATH'] ?? ''): Promise<string | undefined> {
  const candidates = program.includes('/') ? [program] : searchPath.split(path.delimiter).filter(Boolean).map((d) => path.join(d, program));
  for (const file of candidates) {
    try {
      if ((await stat(file)).isFile()) {
        await access(file, constants.X_OK);
        return file;
      }
    } catch {
      // not here: try the next directory
    }
  }
  return undefined;
}

/** A program the daemon runs: found (in `dir` when given, else on PATH) and executable. */
export async function checkProgram(field: string, program: string, options: { dir?: string | undefined; searchPath?: string; hint: string }): Promise<PreflightProblem | undefined> {
  const wanted = options.dir ? path.join(options.dir, program) : program;
  if (await findExecutable(wanted, options.searchPath)) return undefined;
  const where = wanted.includes('/') ? `${wanted} is not an executable file` : `${program} is not on PATH`;
  return { field, message: `${where}; ${options.hint}` };
}
