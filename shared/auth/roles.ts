/**
 * The roles a site certificate can carry (scripts/pki/make-site-pki.sh --role).
 * Which RPC each may call is in one table per service: coordinator/api/access.ts
 * and agent/service/access.ts; docs/access.md shows both.
 */
export const ROLES = ['admin', 'operator', 'reader', 'agent', 'gridway', 'infosys', 'coordinator'] as const;

/** One role of ROLES. */
export type Role = (typeof ROLES)[number];

/**
 * How a certificate names its role: a URI subjectAltName in vonode's own
 * namespace, so no other use of the site's CA (subject OUs, e-mail SANs) can
 * be mistaken for a vonode role.
 */
export const ROLE_URI_PREFIX = 'urn:vonode:role:';

/** Type guard for a role name. */
export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
