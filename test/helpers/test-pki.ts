import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** A PEM certificate and its private key. */
export interface CertPair {
  cert: string;
  key: string;
}

/**
 * Issues a throwaway EC P-256 certificate with openssl, valid 30 days, as
 * `dir/NAME.pem` and `dir/NAME-key.pem`: self-signed (a CA) without `ca`,
 * else signed by `ca`, with `subjectAltName` (e.g. `URI:urn:vonode:role:agent`)
 * when given. For tests of TLS file checks; the site's real PKI is
 * scripts/pki/make-site-pki.sh.
 */
export function issueTestCertificate(dir: string, name: string, ca?: CertPair, subjectAltName?: string): CertPair {
  const at = (f: string): string => path.join(dir, `${name}${f}`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at('-key.pem'), '-subj', `/CN=${name}`];
  if (!ca) {
    execFileSync('openssl', ['req', '-x509', ...ec, '-out', at('.pem'), '-days', '30'], { stdio: 'ignore' });
  } else {
    execFileSync('openssl', ['req', ...ec, '-out', at('.csr')], { stdio: 'ignore' });
    const ext = subjectAltName ? ['-extfile', writeExtFile(at('.ext'), `subjectAltName=${subjectAltName}\n`)] : [];
    execFileSync('openssl', ['x509', '-req', '-in', at('.csr'), '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', '1', '-out', at('.pem'), '-days', '30', ...ext], { stdio: 'ignore' });
  }
  return { cert: at('.pem'), key: at('-key.pem') };
}

function writeExtFile(file: string, text: string): string {
  writeFileSync(file, text);
  return file;
}
