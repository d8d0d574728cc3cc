import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { Clock } from '../../shared/clock.js';
import { describeIdentity, identityOf } from '../../shared/auth/peer-identity.js';
import type { RevocationList } from '../../shared/auth/revocation-list.js';
import type { Role } from '../../shared/auth/roles.js';
import type { ConsoleTokens } from './console-tokens.js';

/** Roles that read the whole site, timings and events included (coordinator/api/access.ts READERS). */
export const CONSOLE_ROLES: readonly Role[] = ['admin', 'operator', 'reader'];
/** Name of the session cookie set by POST /api/login. */
export const SESSION_COOKIE = 'vonode_console';
const SESSION_MS = 12 * 3_600_000;
const MAX_SESSIONS = 10_000;

/** Who is looking. */
export interface ConsoleViewer {
  name: string;
  via: 'certificate' | 'token' | 'insecure';
  /** The certificate's role; absent for a token. */
  role?: Role;
}

/** The outcome of a check: the viewer, or why not (said to the caller as is: it names no secret). */
export type ConsoleVerdict = { ok: true; viewer: ConsoleViewer } | { ok: false; reason: string };

/**
 * Who may see the console: a site certificate of a reading role (the TLS
 * layer has verified it against the site CA; the CRL is checked here), a
 * bearer token of the tokens file, or a session a token opened. Without TLS
 * (--insecure) and without tokens, everyone: development only.
 */
export class ConsoleAuth {
  private readonly sessions = new Map<string, { name: string; expiresMs: number }>();

  constructor(
    private readonly opts: { tls: boolean; tokens: ConsoleTokens | undefined; revocations: RevocationList | undefined; clock: Clock },
  ) {}

  /** Checks a request's certificate, then its bearer token, then its session cookie. */
  check(req: IncomingMessage): ConsoleVerdict {
    // --insecure without tokens: nothing to check against (development only; the coordinator warned at start).
    if (!this.opts.tls && !this.opts.tokens) return { ok: true, viewer: { name: 'anyone', via: 'insecure' } };
    const cert = this.fromCertificate(req);
    if (cert.ok) return cert;
    const bearer = /^Bearer ([\x21-\x7e]{1,512})$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) {
      const name = this.opts.tokens?.holder(bearer);
      return name ? { ok: true, viewer: { name, via: 'token' } } : { ok: false, reason: 'the bearer token is not one of the console tokens file' };
    }
    const session = this.session(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (session) return { ok: true, viewer: { name: session, via: 'token' } };
    return { ok: false, reason: cert.reason };
  }

  /** Opens a session for a valid token: its id for the cookie, or undefined. */
  login(token: string): string | undefined {
    const name = this.opts.tokens?.holder(token);
    if (!name) return undefined;
    const id = randomBytes(32).toString('base64url');
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(id, { name, expiresMs: this.opts.clock.nowMs() + SESSION_MS });
    return id;
  }

  /** Ends a session (logout). */
  logout(req: IncomingMessage): void {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (id) this.sessions.delete(id);
  }

  /** Seconds a session lasts (the cookie's Max-Age). */
  get sessionSeconds(): number {
    return SESSION_MS / 1000;
  }

  private session(id: string | undefined): string | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresMs <= this.opts.clock.nowMs()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s.name;
  }

  private fromCertificate(req: IncomingMessage): ConsoleVerdict {
    const noCredentials = this.opts.tokens
      ? 'show a site certificate of role admin, operator or reader, or log in with a console token'
      : 'show a site certificate of role admin, operator or reader (this console has no tokens file)';
    const socket = req.socket;
    if (!(socket instanceof TLSSocket)) return { ok: false, reason: noCredentials };
    const cert = socket.getPeerCertificate();
    if (!cert || !cert.subject) return { ok: false, reason: noCredentials };
    if (!socket.authorized) return { ok: false, reason: `the client certificate is not one of the site CA (${String(socket.authorizationError)})` };
    const id = identityOf(cert);
    if (!id.role) return { ok: false, reason: `the certificate ${describeIdentity(id)} ${id.problem ?? 'has no role'}` };
    if (!CONSOLE_ROLES.includes(id.role)) return { ok: false, reason: `the certificate ${describeIdentity(id)} may not read the console: roles admin, operator and reader may` };
    if (this.opts.revocations?.isRevoked(id.serial)) return { ok: false, reason: `the certificate ${describeIdentity(id)} is revoked by the site CRL` };
    return { ok: true, viewer: { name: id.name, via: 'certificate', role: id.role } };
  }
}

/** The value of cookie `name` in a Cookie header, if any. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
