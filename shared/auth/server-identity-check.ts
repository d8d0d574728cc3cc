import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { describeIdentity, identityOf } from './peer-identity.js';
import type { RevocationList } from './revocation-list.js';
import type { Role } from './roles.js';

/** What a client expects of the server it dials. */
export interface ServerExpectation {
  /** The role the server's certificate must carry (agents dial the coordinator; the coordinator dials agents). */
  role: Role;
  /** The CN it must have (the coordinator expects an agent's certificate to name the host it registered as). */
  name?: string;
  revocations?: RevocationList;
}

/**
 * A tls checkServerIdentity that also checks the server's vonode role, name
 * and revocation: an agent obeys no server but the coordinator, and the
 * coordinator sends a host's work only to that host's certificate.
 */
export function serverIdentityCheck(expect: ServerExpectation): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return (hostname, cert) => {
    const hostError = checkServerIdentity(hostname, cert);
    if (hostError) return hostError;
    const id = identityOf(cert);
    if (expect.revocations?.isRevoked(id.serial)) return new Error(`the server's certificate ${describeIdentity(id)} is revoked by the site CRL`);
    if (id.role !== expect.role) return new Error(`the server's certificate ${describeIdentity(id)} is not a ${expect.role} certificate${id.problem ? ` (it ${id.problem})` : ''}`);
    if (expect.name !== undefined && id.name !== expect.name) return new Error(`the server's certificate names '${id.name}', expected '${expect.name}'`);
    return undefined;
  };
}
