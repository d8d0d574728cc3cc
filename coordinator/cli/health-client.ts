import { Client, type ChannelCredentials } from '@grpc/grpc-js';
import { RpcCallError, unaryCall } from '../../shared/rpc/grpc-call.js';

/** A failed grpc.health.v1 call, with its gRPC code. */
export class HealthCallError extends RpcCallError {}

/** What grpc.health.v1.Health/Check answers: `SERVING`, `NOT_SERVING`, `UNKNOWN` or `SERVICE_UNKNOWN`. */
export type ServingStatus = string;

/**
 * One grpc.health.v1 Check against `address` (an agent or the coordinator).
 * grpc-health-check only ships the server side plus the service definition
 * (loaded from its health.proto with enums as strings), so the call is made
 * with that definition on a plain grpc-js Client; the package is imported
 * lazily so other commands do not pay for loading the proto.
 * `service` '' asks about the whole server. Throws HealthCallError.
 */
export async function checkHealth(address: string, creds: ChannelCredentials, service: string, timeoutMs: number): Promise<ServingStatus> {
  const { service: definition } = await import('grpc-health-check');
  const check = definition['Check'];
  if (!check) throw new Error('grpc-health-check has no Check method in its service definition');
  const client = new Client(address, creds);
  try {
    const res = await unaryCall<object, HealthCallError>(HealthCallError, 'Health/Check', (cb) =>
      client.makeUnaryRequest(check.path, check.requestSerialize, check.responseDeserialize, { service }, { deadline: Date.now() + timeoutMs }, cb),
    );
    const status = (res as { status?: unknown }).status;
    return typeof status === 'string' ? status : 'UNKNOWN';
  } finally {
    client.close();
  }
}
