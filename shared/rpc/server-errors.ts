import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '../logger.js';
import { isVonodeError, LEADER_METADATA_KEY, NotLeaderError } from '../errors.js';

/**
 * Maps anything thrown by a handler to a gRPC status: vonode errors keep
 * their code and message (they are written for the operator); anything else
 * becomes INTERNAL with a generic message, and the detail goes to the log.
 */
export function toServiceError(err: unknown, logger: Logger, method: string): Partial<ServiceError> {
  if (isVonodeError(err)) {
    const metadata = new Metadata();
    if (err instanceof NotLeaderError && err.leader) metadata.set(LEADER_METADATA_KEY, err.leader);
    return { code: err.code, details: err.message, metadata };
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return { code: status.CANCELLED, details: 'cancelled by the caller', metadata: new Metadata() };
  }
  logger.error({ err, method }, 'unexpected error in RPC handler');
  return { code: status.INTERNAL, details: `internal error in ${method}; see the daemon's log`, metadata: new Metadata() };
}
