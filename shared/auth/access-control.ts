import { status } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { describeIdentity, identityOf, type PeerIdentity } from './peer-identity.js';
import type { RevocationList } from './revocation-list.js';
import { ROLES, type Role } from './roles.js';

/** Who may call one RPC. */
export interface MethodAccess<Req = never> {
  /** Roles allowed to call it. */
  roles: readonly Role[];
  /**
   * For calls a party makes about itself (an agent registering as a host):
   * the name the request claims, which must equal the certificate's CN.
   */
  actsAs?: (request: Req) => string;
  /** Changes the site: allowed calls are logged with the caller (an audit trail). */
  audit?: boolean;
}

/** The request type of a generated grpc-js method definition. */
type RequestOf<M> = M extends { requestDeserialize(value: Buffer): infer R } ? R : never;

/**
 * A service's access table: one entry per RPC of its generated definition, so
 * a new RPC without an entry does not compile.
 */
export type AccessTable<D> = { [K in keyof D]: MethodAccess<RequestOf<D[K]>> };

/** A table entry resolved to its wire path, as the interceptor looks it up. */
export interface ResolvedAccess {
  method: string;
  access: MethodAccess<unknown>;
}

/** Every role: grpc.health.v1 and reflection are open to any site certificate (they reveal nothing of the site). */
export const ANY_ROLE: readonly Role[] = ROLES;

const SITE_WIDE_PATHS = [
  '/grpc.health.v1.Health/Check',
  '/grpc.health.v1.Health/Watch',
  '/grpc.health.v1.Health/List',
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
];

/** Maps a service's table onto wire paths, adding health and reflection for every role. */
export function resolveAccessTable<D extends Record<string, { path: string }>>(definition: D, table: AccessTable<D>): Map<string, ResolvedAccess> {
  const byPath = new Map<string, ResolvedAccess>();
  for (const key of Object.keys(table) as Array<keyof D & string>) {
    const path = definition[key]!.path;
    byPath.set(path, { method: path.slice(path.lastIndexOf('/') + 1), access: table[key] as MethodAccess<unknown> });
  }
  for (const path of SITE_WIDE_PATHS) byPath.set(path, { method: path.slice(path.lastIndexOf('/') + 1), access: { roles: ANY_ROLE } });
  return byPath;
}

/** The outcome of a check: the caller, or the status to answer with. */
export type Verdict = { ok: true; identity: PeerIdentity } | { ok: false; code: status; details: string; identity?: PeerIdentity };

const HOW_TO_GET = 'ask the site admin for a certificate with that role (scripts/pki/make-site-pki.sh DIR --role ROLE NAME)';

/**
 * Decides whether the holder of `cert` may call the method at `path`.
 * Unlisted methods are refused (deny by default). Pure, for unit tests.
 */
export function authorizeCall(byPath: ReadonlyMap<string, ResolvedAccess>, path: string, cert: PeerCertificate | undefined, revocations: Pick<RevocationList, 'isRevoked'> | undefined): Verdict {
  if (!cert || !cert.raw) return { ok: false, code: status.UNAUTHENTICATED, details: 'no client certificate: present a site certificate (mutual TLS)' };
  const identity = identityOf(cert);
  if (revocations?.isRevoked(identity.serial)) {
    return { ok: false, code: status.UNAUTHENTICATED, identity, details: `the certificate ${describeIdentity(identity)} with serial ${identity.serial} is revoked by the site CRL` };
  }
  const entry = byPath.get(path);
  if (!entry) return { ok: false, code: status.PERMISSION_DENIED, identity, details: `${path} is not open to any role` };
  if (!identity.role) return { ok: false, code: status.PERMISSION_DENIED, identity, details: `${entry.method}: the certificate '${identity.name}' ${identity.problem ?? 'carries no role'}` };
  if (!entry.access.roles.includes(identity.role)) {
    const needed = entry.access.roles.length === 1 ? `the role ${entry.access.roles[0]}` : `one of the roles ${entry.access.roles.join(', ')}`;
    return { ok: false, code: status.PERMISSION_DENIED, identity, details: `${entry.method} needs ${needed}; the certificate ${describeIdentity(identity)} does not have it: ${HOW_TO_GET}` };
  }
  return { ok: true, identity };
}

/** For `actsAs` methods: the request's claimed name must be the certificate's CN. */
export function authorizeRequest(entry: ResolvedAccess, identity: PeerIdentity, request: unknown): Verdict {
  const claim = entry.access.actsAs;
  if (!claim) return { ok: true, identity };
  const claimed = claim(request as never);
  if (claimed === identity.name) return { ok: true, identity };
  return {
    ok: false, code: status.PERMISSION_DENIED, identity,
    details: `${entry.method}: the certificate ${describeIdentity(identity)} may act only as '${identity.name}', not as '${claimed}': give the agent a certificate whose CN is its host name (or set hostName to '${identity.name}')`,
  };
}
