import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerInterceptor } from '@grpc/grpc-js';
import { ConfigError } from '../config/load-yaml.js';
import type { Logger } from '../logger.js';
import type { TlsFiles } from '../rpc/credentials.js';
import type { ResolvedAccess } from './access-control.js';
import { authorizationInterceptor } from './authorization-interceptor.js';
import { CrlError } from './crl.js';
import { describeIdentity, identityOfX509, type PeerIdentity } from './peer-identity.js';
import { RevocationList } from './revocation-list.js';
import type { Role } from './roles.js';

/** What a daemon must be, by its own certificate. */
export interface OwnIdentity {
  role: Role;
  /** The CN it must carry (an agent's host name). */
  name?: string;
}

/**
 * A daemon's side of site trust: its own certificate checked against the
 * role it runs as, the CRL (watched), and the authorization interceptor for
 * its gRPC server. Without TLS (--insecure, development only) there is no
 * identity to check and every call is allowed.
 */
export class SiteTrust {
  private constructor(
    /** Interceptors for the daemon's GrpcServer. */
    readonly interceptors: ServerInterceptor[],
    /** The site CRL, when tls.crl is set. */
    readonly revocations: RevocationList | undefined,
    /** The daemon's own identity (undefined without TLS). */
    readonly own: PeerIdentity | undefined,
  ) {}

  /**
   * Checks the daemon's certificate, loads and watches the CRL, builds the
   * interceptor. Throws ConfigError (the daemon exits 2) when the certificate
   * has the wrong role or name, or the CRL is unusable.
   */
  static async open(opts: { tls: TlsFiles | undefined; source: string; own: OwnIdentity; access: ReadonlyMap<string, ResolvedAccess>; logger: Logger }): Promise<SiteTrust> {
    const { tls, logger } = opts;
    if (!tls) {
      logger.warn('no TLS (--insecure): callers are not identified and every RPC is allowed; development only');
      return new SiteTrust([], undefined, undefined);
    }
    const own = await checkOwnCertificate(tls.cert, opts.own, opts.source);
    let revocations: RevocationList | undefined;
    if (tls.crl) {
      try {
        revocations = await RevocationList.load(tls.crl, tls.ca, logger.child({ component: 'crl' }));
      } catch (e) {
        if (e instanceof CrlError) throw new ConfigError(opts.source, [`tls.crl: ${e.message}`]);
        throw e;
      }
      if (revocations.isRevoked(own.serial)) throw new ConfigError(opts.source, [`tls.cert: this daemon's own certificate ${describeIdentity(own)} is revoked by ${tls.crl}: issue it a new one`]);
      await revocations.startWatching();
    } else {
      logger.info('no tls.crl: certificates cannot be revoked short of a new site CA (scripts/pki/make-site-pki.sh writes crl.pem)');
    }
    return new SiteTrust([authorizationInterceptor(opts.access, revocations, logger.child({ component: 'authz' }))], revocations, own);
  }

  /** Stops watching the CRL. */
  async close(): Promise<void> {
    await this.revocations?.stop();
  }
}

/** Reads the daemon's certificate and checks its role (and name). Throws ConfigError. */
export async function checkOwnCertificate(certFile: string, own: OwnIdentity, source: string): Promise<PeerIdentity> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(certFile));
  } catch (e) {
    throw new ConfigError(source, [`tls.cert: cannot read a certificate from ${certFile} (${(e as Error).message})`]);
  }
  const id = identityOfX509(cert);
  const problems: string[] = [];
  if (id.role !== own.role) problems.push(`tls.cert: ${certFile} is ${describeIdentity(id)}${id.problem ? `, it ${id.problem}` : ''}; this daemon needs a ${own.role} certificate (scripts/pki/make-site-pki.sh DIR --role ${own.role} NAME)`);
  if (own.name !== undefined && id.name !== own.name) problems.push(`tls.cert: ${certFile} names '${id.name}' but this agent registers as '${own.name}': the certificate's CN must be the host name (set hostName or reissue the certificate)`);
  if (problems.length) throw new ConfigError(source, problems);
  return id;
}
