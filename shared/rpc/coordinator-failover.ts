import { status } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import { CoordinatorCallError } from './coordinator-client.js';
import { RpcCallError } from './grpc-call.js';

/**
 * Codes after which a call is tried at another coordinator. UNAVAILABLE is
 * what a dead coordinator gives, and what a standby answers a write with
 * (NotLeaderError, naming the leader in a trailer when there is one). Every
 * other code is a coordinator's answer and goes back to the caller at once.
 */
export const MOVE_ON_CODES: ReadonlySet<number> = new Set([status.UNAVAILABLE]);

/** A leader's address as a coordinator names it: host:port, [v6]:port or unix:/path; no blanks or commas. */
const LEADER_ADDRESS = /^[^\s,]{1,255}$/;

/** What a CoordinatorFailover may see and change of its client (FollowingCoordinatorClient). */
export interface FailoverRouter {
  /** Every address known now. */
  known(): readonly string[];
  /** Whether the client was closed. */
  closed(): boolean;
  /** Points calls at a named leader (adding it); false if it cannot. */
  followLeader(from: string, leader: string, reason: string): boolean;
  /** Points calls at the address after `from`; returns where they go now. */
  moveOn(from: string, reason: string): string;
}

/**
 * The retry budget of one call of a FollowingCoordinatorClient: how many
 * attempts (two passes over the list plus a named leader), until when (its
 * deadline), which addresses it has tried and how each failed, and the next
 * backoff. next() says where to go and how long to wait first; failure()
 * what the caller sees when it gives up.
 */
export class CoordinatorFailover {
  private attempts = 0;
  private readonly budget: number;
  private readonly endMs: number | undefined;
  private delayMs: number;
  private readonly tried = new Set<string>();
  /** Last failure per address, in the order first tried. */
  private readonly failures = new Map<string, string>();

  constructor(
    private readonly router: FailoverRouter,
    readonly method: string,
    private readonly clock: Clock,
    private readonly backoff: { initial: number; max: number },
    deadlineMs: number | undefined,
    readonly signal: AbortSignal | undefined,
  ) {
    this.budget = 2 * router.known().length + 1;
    this.endMs = deadlineMs === undefined ? undefined : clock.monotonicMs() + deadlineMs;
    this.delayMs = backoff.initial;
  }

  /** What is left of the call's deadline for the next attempt (undefined: none). */
  remainingMs(): number | undefined {
    return this.endMs === undefined ? undefined : Math.max(1, Math.round(this.endMs - this.clock.monotonicMs()));
  }

  /** After a failed attempt at `address`: ms to wait before the next (where the client points now), or undefined to give up. */
  next(err: unknown, address: string): number | undefined {
    this.attempts++;
    this.tried.add(address);
    if (err instanceof RpcCallError && err.code === status.DEADLINE_EXCEEDED && this.router.known().length > 1 && !this.router.closed()) {
      // The call's time is spent, but a coordinator that holds calls without answering (a stopped
      // process, a lost network) must not get the next one too: later calls start at the next address.
      this.router.moveOn(address, `no answer within the deadline: ${err.details}`);
      return undefined;
    }
    if (!(err instanceof RpcCallError) || !MOVE_ON_CODES.has(err.code)) return undefined;
    this.failures.set(address, err.details);
    if (this.router.closed() || this.signal?.aborted || this.attempts >= this.budget) return undefined;
    const leader = err.leader.trim();
    let to: string;
    if (leader && leader !== address && LEADER_ADDRESS.test(leader) && this.router.followLeader(address, leader, err.details)) {
      to = leader;
    } else {
      // One address and nobody named a leader: fail as a plain client does (the caller has its own retry).
      if (this.router.known().length === 1) return undefined;
      to = this.router.moveOn(address, err.details);
    }
    const waitMs = this.tried.has(to) ? this.nextDelay() : 0;
    if (this.endMs !== undefined && this.clock.monotonicMs() + waitMs >= this.endMs) return undefined;
    return waitMs;
  }

  /**
   * The error the caller sees: the last one as it was, unless several
   * coordinators failed with UNAVAILABLE; then one UNAVAILABLE naming each
   * address with its failure (its cause the last error, so `leader` still reads).
   */
  failure(err: unknown): unknown {
    if (!(err instanceof RpcCallError) || !MOVE_ON_CODES.has(err.code) || this.failures.size < 2) return err;
    const each = [...this.failures].map(([address, details]) => `${address}: ${details}`).join('; ');
    return new CoordinatorCallError(err.method, err.code, `no coordinator of ${[...this.failures.keys()].join(', ')} took the call (${each})`, { cause: err.cause ?? err });
  }

  private nextDelay(): number {
    const d = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.max);
    return d;
  }
}
