import type { PeerCertificate } from 'node:tls';
import { isRole, ROLE_URI_PREFIX, type Role } from './roles.js';

/** Who is on the other end of a mutual-TLS connection, as its site certificate says. */
export interface PeerIdentity {
  /** The certificate's subject CN: the party's name (for an agent, its host name). */
  name: string;
  /** The vonode role, or undefined when the certificate carries none. */
  role: Role | undefined;
  /** Serial number, uppercase hex without leading zeros (as the CRL is compared). */
  serial: string;
  /** Why no role could be read (several roles, an unknown one); undefined when fine. */
  problem?: string;
}

/**
 * Reads name, role and serial from a peer certificate. Never throws: a
 * certificate without a usable role gets `role: undefined` and a `problem`
 * saying what to do, which the authorization check turns into its refusal.
 */
export function identityOf(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname' | 'serialNumber'>): PeerIdentity {
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn.join(',') : (cn ?? '');
  const serial = normalizeSerial(cert.serialNumber ?? '');
  const roles = roleUris(cert.subjectaltname ?? '');
  if (roles.length === 0) {
    return { name, role: undefined, serial, problem: `carries no vonode role (no ${ROLE_URI_PREFIX}ROLE subjectAltName): reissue it with scripts/pki/make-site-pki.sh --role ROLE ${name || 'NAME'}` };
  }
  if (roles.length > 1) return { name, role: undefined, serial, problem: `carries ${roles.length} vonode roles (${roles.join(', ')}); a certificate must carry exactly one` };
  const role = roles[0]!;
  if (!isRole(role)) return { name, role: undefined, serial, problem: `carries the unknown role "${role}"` };
  return { name, role, serial };
}

/** How identities are written in messages and logs: `'cli-ops' (role operator)`. */
export function describeIdentity(id: PeerIdentity): string {
  return `'${id.name}' (${id.role ? `role ${id.role}` : 'no role'})`;
}

/** Uppercase hex without leading zeros: Node and the CRL parser print serials differently. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/[^0-9a-fA-F]/g, '').replace(/^0+(?=.)/, '').toUpperCase();
}

/**
 * The role names in Node's subjectaltname string ("DNS:a, URI:urn:vonode:role:admin").
 * Node quotes entries holding a comma or quote as JSON strings; a role URI
 * never needs that, so a quoted one is not a role.
 */
function roleUris(subjectAltName: string): string[] {
  const out: string[] = [];
  for (const entry of subjectAltName.split(', ')) {
    if (entry.startsWith(`URI:${ROLE_URI_PREFIX}`)) out.push(entry.slice(`URI:${ROLE_URI_PREFIX}`.length));
  }
  return out;
}

/** The identity of a certificate read from a file (a daemon checking its own certificate at start). */
export function identityOfX509(cert: { subject: string; subjectAltName: string | undefined; serialNumber: string }): PeerIdentity {
  const cn = cert.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
  return identityOf({ subject: { CN: cn ?? '' } as PeerCertificate['subject'], subjectaltname: cert.subjectAltName ?? '', serialNumber: cert.serialNumber });
}
