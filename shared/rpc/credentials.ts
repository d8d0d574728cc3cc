import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { serverIdentityCheck, type ServerExpectation } from '../auth/server-identity-check.js';

/** PEM files of a party in the site's mutual-TLS setup. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  /** The site's certificate revocation list (PEM or DER), reloaded when it changes. */
  crl?: string | undefined;
}

/** Thrown when neither TLS files nor an explicit --insecure were given. */
export class InsecureNotAllowedError extends Error {
  constructor(what: string) {
    super(`${what}: no TLS configured; set tls.ca/cert/key (scripts/pki makes them) or pass --insecure for local development`);
  }
}

/** Server credentials: mutual TLS (client certificates required) or, only if asked, plaintext. */
export function serverCredentials(tls: TlsFiles | undefined, insecure: boolean, what: string): ServerCredentials {
  if (tls) {
    return ServerCredentials.createSsl(readFileSync(tls.ca), [{ cert_chain: readFileSync(tls.cert), private_key: readFileSync(tls.key) }], true);
  }
  if (!insecure) throw new InsecureNotAllowedError(what);
  return ServerCredentials.createInsecure();
}

/**
 * Client credentials: mutual TLS or, only if asked, plaintext. With `expect`,
 * the server's certificate must also carry that role (and name), and not be
 * revoked: the TLS handshake fails otherwise.
 */
export function channelCredentials(tls: TlsFiles | undefined, insecure: boolean, what: string, expect?: ServerExpectation): ChannelCredentials {
  if (tls) {
    const verify = expect ? { checkServerIdentity: serverIdentityCheck(expect) } : undefined;
    return credentials.createSsl(readFileSync(tls.ca), readFileSync(tls.key), readFileSync(tls.cert), verify);
  }
  if (!insecure) throw new InsecureNotAllowedError(what);
  return credentials.createInsecure();
}

/**
 * Client credentials for many servers of one kind (the coordinator dialing
 * every agent): the PEM files are read and the TLS context is built once;
 * each server gets only its own identity check. Building a context per agent
 * (files read, key and certificates parsed) cost the dispatch loop about a
 * millisecond for the first deployment on every host.
 */
export class SharedChannelCredentials {
  private readonly context: SecureContext | undefined;

  /** Throws InsecureNotAllowedError without TLS unless `insecure`. */
  constructor(tls: TlsFiles | undefined, insecure: boolean, what: string) {
    if (!tls && !insecure) throw new InsecureNotAllowedError(what);
    this.context = tls ? createSecureContext({ ca: readFileSync(tls.ca), key: readFileSync(tls.key), cert: readFileSync(tls.cert) }) : undefined;
  }

  /** Credentials that also check the server's role, name and revocation (ignored without TLS). */
  for(expect: ServerExpectation): ChannelCredentials {
    if (!this.context) return credentials.createInsecure();
    return credentials.createFromSecureContext(this.context, { checkServerIdentity: serverIdentityCheck(expect) });
  }
}
