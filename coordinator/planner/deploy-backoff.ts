import type { DeployFailureCause } from '../deploy/deploy-failure.js';

/** Tuning of the per-VO deployment backoff. */
export interface DeployBackoffOptions {
  /** Hold after the first failure since the VO's last success, in ms. Default 5 s. */
  initialMs: number;
  /** Longest hold, in ms. Default 5 min. */
  maxMs: number;
}

/** The defaults: 5 s, doubling up to 5 min. */
export const DEFAULT_DEPLOY_BACKOFF: Readonly<DeployBackoffOptions> = { initialMs: 5_000, maxMs: 300_000 };

/** One VO's deployment failures since its last success, and the hold they put on new deployments. */
export interface DeployHold {
  /** Deployments of the VO that failed for good since its last success. */
  failures: number;
  /** Holds started since the last success; each doubles the delay. */
  rounds: number;
  /** When the current hold began (wall-clock ms). */
  sinceMs: number;
  /** The current hold's length (ms). */
  delayMs: number;
  /** No new deployment of the VO before this (wall-clock ms); in the past once the hold expired. */
  untilMs: number;
  /** The last failed deployment's error. */
  lastError: string;
  /** What made the last failed deployment fail ('other' when unknown). */
  cause: DeployFailureCause;
}

/** How a deployment ended, as the backoff needs it. */
export interface DeployOutcome {
  vo: string;
  succeeded: boolean;
  /** Its error when it failed. */
  error: string;
  /** When the deployment was submitted (wall-clock ms, the clock the hold uses). */
  submittedMs: number;
  /** What made it fail (default 'other'). */
  cause?: DeployFailureCause;
}

/**
 * Per-VO backoff of the scaling loop's deployments. A deployment that fails
 * for good (every attempt, on every host it was tried on) starts a hold:
 * the loop submits no new deployment of that VO before it ends. Each hold
 * after another failure doubles (initialMs, capped at maxMs); a successful
 * deployment of the VO clears it all. Deployments submitted before the
 * current hold began fail for the same reason as the one that started it
 * (the loop submits a VO's deficit at once): they count as failures but
 * neither extend nor double the hold, so one failed batch of N is one step,
 * not N. Pure: the caller passes the time in.
 */
export class DeployBackoff {
  private readonly holds = new Map<string, DeployHold>();

  constructor(private readonly options: Readonly<DeployBackoffOptions> = DEFAULT_DEPLOY_BACKOFF) {}

  /**
   * Records how a deployment ended. Returns the hold this failure started
   * (a copy, for the caller to log once), or undefined if it started none.
   */
  record(outcome: DeployOutcome, nowMs: number): DeployHold | undefined {
    const prev = this.holds.get(outcome.vo);
    if (outcome.succeeded) {
      this.holds.delete(outcome.vo);
      return undefined;
    }
    if (prev && outcome.submittedMs < prev.sinceMs) {
      prev.failures++;
      prev.lastError = outcome.error;
      prev.cause = outcome.cause ?? 'other';
      return undefined;
    }
    const rounds = (prev?.rounds ?? 0) + 1;
    const delayMs = Math.min(this.options.maxMs, this.options.initialMs * 2 ** (rounds - 1));
    const hold: DeployHold = {
      failures: (prev?.failures ?? 0) + 1, rounds, sinceMs: nowMs, delayMs, untilMs: nowMs + delayMs, lastError: outcome.error, cause: outcome.cause ?? 'other',
    };
    this.holds.set(outcome.vo, hold);
    return { ...hold };
  }

  /** True while new deployments of the VO must wait. */
  isHeld(vo: string, nowMs: number): boolean {
    const hold = this.holds.get(vo);
    return hold !== undefined && nowMs < hold.untilMs;
  }

  /** The VOs whose new deployments must wait now. */
  heldVos(nowMs: number): Set<string> {
    return new Set([...this.holds.keys()].filter((vo) => this.isHeld(vo, nowMs)));
  }

  /** Every VO with failed deployments since its last success (held now or not). */
  snapshot(): ReadonlyMap<string, Readonly<DeployHold>> {
    return new Map([...this.holds].map(([vo, h]) => [vo, { ...h }]));
  }

  /**
   * Lifts the VO's hold and forgets its failures, as a success would (the
   * cause was fixed, e.g. a new appliance in the policy). Returns what was
   * cleared, or undefined if the VO had no failures.
   */
  clear(vo: string): DeployHold | undefined {
    const hold = this.holds.get(vo);
    this.holds.delete(vo);
    return hold && { ...hold };
  }

  /** Forgets VOs that are not in `vos` (they left the policy). */
  retain(vos: Iterable<string>): void {
    const keep = new Set(vos);
    for (const vo of [...this.holds.keys()]) if (!keep.has(vo)) this.holds.delete(vo);
  }
}
