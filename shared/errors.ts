import { status } from '@grpc/grpc-js';

/** Base of every error vonode raises on purpose; carries the gRPC code it maps to. */
export class VonodeError extends Error {
  constructor(
    message: string,
    readonly code: status,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request field failed validation; nothing was changed. */
export class InvalidArgumentError extends VonodeError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid ${field}: ${reason}`, status.INVALID_ARGUMENT);
  }
}

/** The named resource (domain, image) does not exist. */
export class NotFoundError extends VonodeError {
  constructor(message: string) {
    super(message, status.NOT_FOUND);
  }
}

/** The resource already exists (e.g. a domain with that hostname). */
export class AlreadyExistsError extends VonodeError {
  constructor(message: string) {
    super(message, status.ALREADY_EXISTS);
  }
}

/** Not enough memory, disk or cache budget on this host. */
export class ResourceExhaustedError extends VonodeError {
  constructor(message: string) {
    super(message, status.RESOURCE_EXHAUSTED);
  }
}

/** The operation is impossible in the current state (e.g. image in use). */
export class FailedPreconditionError extends VonodeError {
  constructor(message: string) {
    super(message, status.FAILED_PRECONDITION);
  }
}

/**
 * The caller may not have this done (e.g. an image URL outside the agent's
 * allowed sources). The message says what is refused and which setting
 * allows it; it never says anything about the refused resource itself.
 */
export class PermissionDeniedError extends VonodeError {
  constructor(message: string) {
    super(message, status.PERMISSION_DENIED);
  }
}

/** A phase did not finish in time. */
export class DeadlineError extends VonodeError {
  constructor(message: string) {
    super(message, status.DEADLINE_EXCEEDED);
  }
}

/** An external component (download server, hypervisor, DHCP server) failed. */
export class UnavailableError extends VonodeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, status.UNAVAILABLE, options);
  }
}

/** gRPC trailing-metadata key naming the leader coordinator's address in a NotLeaderError. */
export const LEADER_METADATA_KEY = 'vonode-leader';

/**
 * A standby coordinator (or a deposed leader) was asked for a write. Maps to
 * UNAVAILABLE, with the leader's address (when one is known) in the message
 * and in the `vonode-leader` trailer, so clients move to the leader and retry.
 */
export class NotLeaderError extends VonodeError {
  constructor(
    readonly leader: string,
    what = 'this coordinator is a standby',
  ) {
    super(
      leader
        ? `${what}; the leader is at ${leader} (clients given every coordinator's address follow it on their own)`
        : `${what} and no leader is elected now; retry shortly (check 'vonode status' and the etcd members' health)`,
      status.UNAVAILABLE,
    );
  }
}

/** Type guard for errors raised deliberately by vonode. */
export function isVonodeError(err: unknown): err is VonodeError {
  return err instanceof VonodeError;
}

/** Human-readable message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
