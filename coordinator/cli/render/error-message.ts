import { status } from '@grpc/grpc-js';
import { RpcCallError } from '../../../shared/rpc/grpc-call.js';

/** What the CLI was talking to, for messages: the coordinator, or any gRPC server (`health`). */
export interface CallTarget {
  what: 'coordinator' | 'server';
  address: string;
  /** Whether the client used mutual TLS (false with --insecure); picks the hint for a failed handshake. */
  tls: boolean;
}

// Transport failures whose text points at TLS rather than at a missing server.
const TLS_PATTERN = /certificate|ssl|tls|handshake|altname|self[- ]signed|unable to verify|wrong version number|CERT_|EPROTO|alert/i;
// Socket-level failures: nothing listens there (or the name/route is wrong).
const NO_SERVER_PATTERN = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOENT|Name resolution|DNS address/i;
// grpc-js says only "Failed to connect" (no socket error) when TCP connected but the TLS/HTTP2 setup was cut:
// a plaintext client at a TLS server, or a server that rejected the client certificate.
const HANDSHAKE_PATTERN = /Failed to connect|Connection dropped|ECONNRESET|Protocol error/i;

/** Whether a gRPC failure was a TLS problem (handshake, certificate, plaintext/TLS mismatch). */
export function isTlsFailure(err: RpcCallError): boolean {
  return (err.code === status.UNAVAILABLE || err.code === status.UNKNOWN) && TLS_PATTERN.test(err.details);
}

// What a standby coordinator says when there is no leader to send a write to (NotLeaderError without a leader).
const NO_LEADER_PATTERN = /no leader is elected/;

function certificateHint(target: CallTarget): string {
  const hosts = addressesOf(target).map(hostOf);
  const names = hosts.length > 1
    ? `each ${target.what}'s certificate must name its host (${hosts.join(', ')}) in its subjectAltName`
    : `the ${target.what}'s certificate must name ${hosts[0]} in its subjectAltName`;
  return (
    `hint: --ca must be the site CA that signed the ${target.what}'s certificate, --cert/--key a client pair signed by the same CA ` +
    `(scripts/pki/make-site-pki.sh), and ${names}; ` +
    'use --insecure only against a server started with --insecure'
  );
}

/** The addresses of a target: several for the coordinators of an HA site (--coordinator a,b,c). */
function addressesOf(target: CallTarget): string[] {
  return target.address.split(',').map((a) => a.trim());
}

function hostOf(address: string): string {
  const m = /^\[?([^\]]+?)\]?(?::\d+)?$/.exec(address);
  return m?.[1] ?? address;
}

function unreachable(target: CallTarget): string {
  const addresses = addressesOf(target);
  if (target.what === 'coordinator' && addresses.length > 1) {
    return `cannot reach any coordinator of ${addresses.join(', ')}: is vonode-coordinator running there? check --coordinator / VONODE_COORDINATOR`;
  }
  return target.what === 'coordinator'
    ? `cannot reach the coordinator at ${target.address}: is vonode-coordinator running? check --coordinator / VONODE_COORDINATOR`
    : `cannot reach ${target.address}: is the agent or coordinator running there, and is that its listen address?`;
}

/** Detail lines of a server message, indented (INVALID_ARGUMENT may list one problem per line). */
function detailLines(details: string): string[] {
  return details
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => `  ${l}`);
}

/**
 * Explains a failed gRPC call as lines saying what to do; the first line is
 * the summary. Every code maps to a message naming the target and the next
 * step (see the cases); unknown codes print the server's message.
 */
export function describeRpcError(err: RpcCallError, target: CallTarget): string[] {
  // grpc-js appends an empty "Resolution note: " to connection failures; it only adds noise.
  const details = err.details.replace(/\.?\s*Resolution note:\s*$/, '').trim();
  const grpc = `(${err.method}: ${status[err.code] ?? err.code}: ${details})`;
  if (isTlsFailure(err)) return [`TLS with ${target.address} failed ${grpc}`, certificateHint(target)];
  switch (err.code) {
    case status.UNAVAILABLE:
      if (NO_LEADER_PATTERN.test(err.details)) {
        return [
          `the coordinators have no leader now, so nothing can be changed ${grpc}`,
          "hint: while etcd has a quorum a leader is elected within seconds; retry, and see `vonode status` for the coordinators and the etcd members' health",
        ];
      }
      if (!NO_SERVER_PATTERN.test(err.details) && HANDSHAKE_PATTERN.test(err.details)) {
        return target.tls
          ? [`${target.address} accepted the connection but the TLS handshake failed ${grpc}`, certificateHint(target)]
          : [
              `${target.address} accepted the connection but not plaintext gRPC ${grpc}`,
              `hint: the ${target.what} probably requires mutual TLS: pass --ca, --cert and --key (VONODE_TLS_*) instead of --insecure`,
            ];
      }
      return [unreachable(target), `  ${grpc}`];
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return [`the ${target.what} at ${target.address} refused this client's credentials ${grpc}`, certificateHint(target)];
    case status.INVALID_ARGUMENT:
      return [`the ${target.what} refused the request as invalid (${err.method}):`, ...detailLines(err.details)];
    case status.NOT_FOUND:
      return [`${err.details}`, 'hint: `vonode nodes` and `vonode hosts` list what the coordinator knows'];
    case status.ALREADY_EXISTS:
    case status.FAILED_PRECONDITION:
    case status.ABORTED:
      return [`the ${target.what} cannot do that now: ${err.details}`, 'hint: `vonode status` and `vonode nodes` show the current state'];
    case status.RESOURCE_EXHAUSTED:
      return [`not enough capacity: ${err.details}`, 'hint: `vonode status` shows the free pool entries, `vonode hosts` each host\'s free memory'];
    case status.DEADLINE_EXCEEDED:
      return [`no answer from the ${target.what} at ${target.address} in time ${grpc}`, 'hint: it may be overloaded or stuck; raise --timeout or check its log'];
    case status.UNIMPLEMENTED:
      return [
        `the server at ${target.address} does not implement ${err.method}`,
        target.what === 'coordinator'
          ? 'hint: is --coordinator pointing at an agent (or an older coordinator)? the coordinator listens on 7080 by default'
          : 'hint: the server has no grpc.health.v1 service',
      ];
    case status.CANCELLED:
      return [`cancelled ${grpc}`];
    default:
      return [`the ${target.what} at ${target.address} failed ${grpc}`, `hint: see the ${target.what}'s log (journalctl -u vonode-${target.what === 'coordinator' ? 'coordinator' : 'agent'})`];
  }
}

/** Type guard: an error from a gRPC call made through the shared clients. */
export function isRpcCallError(err: unknown): err is RpcCallError {
  return err instanceof RpcCallError;
}
