import { readFileSync } from 'node:fs';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { TlsFiles } from '../../shared/rpc/credentials.js';
import { UsageError } from './errors.js';

/** Default coordinator address (the coordinator's default listen address). */
export const DEFAULT_COORDINATOR = '127.0.0.1:7080';
/** Default seconds to wait for a unary answer (and for a health check). */
export const DEFAULT_TIMEOUT_S = 30;

/** The global command-line options, as commander parsed them. */
export interface GlobalOptions {
  coordinator?: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  timeout?: number;
}

/** How to reach a gRPC server: address plus mutual TLS files, or explicit plaintext. */
export interface Connection {
  /** One address, or for the coordinators of an HA site several joined by ',' (connectionAddresses splits them). */
  address: string;
  /** Set when all three TLS files were given. */
  tls?: TlsFiles;
  /** Plaintext, only when asked for with --insecure and no TLS file was given. */
  insecure: boolean;
  /** Deadline of unary calls, in ms. */
  timeoutMs: number;
}

const TLS_SOURCES = [
  { field: 'ca', flag: '--ca', env: 'VONODE_TLS_CA' },
  { field: 'cert', flag: '--cert', env: 'VONODE_TLS_CERT' },
  { field: 'key', flag: '--key', env: 'VONODE_TLS_KEY' },
] as const;

// What grpc-js dials: host, host:port or [v6]:port, or a name-resolver URI (unix:/path, dns:///host:port, ...).
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:(\d{1,5}))?$/;
const RESOLVER_URI = /^(unix|unix-abstract|dns|ipv4|ipv6):[^\s,]+$/;

/**
 * The coordinator addresses of a --coordinator value or VONODE_COORDINATOR
 * (`source` names which): one address, or every coordinator of an HA site
 * separated by commas (blanks around them are ignored; a repeated one is
 * dropped). Throws UsageError naming the element that is empty or no address.
 */
export function parseCoordinatorList(text: string, source: string): string[] {
  const items = text.split(',').map((a) => a.trim());
  const out: string[] = [];
  for (const [i, item] of items.entries()) {
    const which = items.length > 1 ? `element ${i + 1} of ${source} "${text}"` : `${source} "${text}"`;
    if (item === '') {
      throw new UsageError(`${which} is empty: give host:port, or several coordinators separated by single commas, e.g. coord-1:7080,coord-2:7080`);
    }
    const port = HOST_PORT.exec(item)?.[3];
    if ((!HOST_PORT.test(item) && !RESOLVER_URI.test(item)) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      throw new UsageError(`${which}: "${item}" is not a coordinator address; use host:port (port 1-65535) or unix:/path`);
    }
    if (!out.includes(item)) out.push(item);
  }
  return out;
}

/** Every address of a resolved connection (several for the coordinators of an HA site). */
export function connectionAddresses(conn: Connection): string[] {
  return conn.address.split(',');
}

/**
 * Applies environment fallbacks and defaults to the global options. A flag
 * wins over its environment variable. The coordinator's address may be a
 * comma-separated list (every coordinator of an HA site); an explicit
 * `address` (a single server, e.g. `vonode health ADDR`) is taken as it is.
 * Throws UsageError for a bad address list, or when TLS is half configured,
 * or absent without --insecure (the message says what to pass).
 */
export function resolveConnection(opts: GlobalOptions, env: Readonly<Record<string, string | undefined>>, address?: string): Connection {
  const target = address ?? coordinatorTarget(opts, env);
  const timeoutMs = Math.round((opts.timeout ?? DEFAULT_TIMEOUT_S) * 1000);
  const flagged = TLS_SOURCES.filter((s) => opts[s.field] !== undefined);
  // An explicit --insecure outranks TLS files that only come from the environment, but not TLS flags.
  if (opts.insecure && flagged.length > 0) {
    throw new UsageError(`--insecure contradicts ${flagged.map((s) => s.flag).join(', ')}: drop one of them`);
  }
  if (opts.insecure) return { address: target, insecure: true, timeoutMs };
  const files = TLS_SOURCES.map((s) => ({ ...s, value: opts[s.field] ?? (env[s.env] || undefined) }));
  const given = files.filter((f) => f.value !== undefined);
  if (given.length === 0) {
    throw new UsageError(
      `no TLS configured for ${target}: pass --ca, --cert and --key (or set VONODE_TLS_CA, VONODE_TLS_CERT and VONODE_TLS_KEY; ` +
        'scripts/pki/make-site-pki.sh makes them), or --insecure to talk plaintext to a local development server',
    );
  }
  if (given.length < files.length) {
    const missing = files.filter((f) => f.value === undefined).map((f) => `${f.flag} (${f.env})`);
    throw new UsageError(`mutual TLS needs all of --ca, --cert and --key; missing ${missing.join(', ')}`);
  }
  const [ca, cert, key] = files.map((f) => f.value!) as [string, string, string];
  return { address: target, tls: { ca, cert, key }, insecure: false, timeoutMs };
}

function coordinatorTarget(opts: GlobalOptions, env: Readonly<Record<string, string | undefined>>): string {
  if (opts.coordinator !== undefined) return parseCoordinatorList(opts.coordinator, '--coordinator').join(',');
  const fromEnv = env['VONODE_COORDINATOR'];
  return fromEnv ? parseCoordinatorList(fromEnv, 'VONODE_COORDINATOR').join(',') : DEFAULT_COORDINATOR;
}

/** Reads one PEM file; a missing or unreadable file is a usage error naming the option. */
function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new UsageError(`cannot read ${flag} ${path}: ${reason}; check the path (or the matching VONODE_TLS_* variable)`);
  }
}

/** grpc-js channel credentials for a resolved connection. Throws UsageError for an unreadable PEM file. */
export function connectionCredentials(conn: Connection): ChannelCredentials {
  if (!conn.tls) return credentials.createInsecure();
  const ca = readPem(conn.tls.ca, '--ca');
  const cert = readPem(conn.tls.cert, '--cert');
  const key = readPem(conn.tls.key, '--key');
  try {
    return credentials.createSsl(ca, key, cert);
  } catch (e) {
    throw new UsageError(`the TLS files are not usable PEM (${(e as Error).message}); --ca takes the site CA, --cert/--key this client's pair`);
  }
}
