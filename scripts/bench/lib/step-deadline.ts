// A benchmark's time limits: one overall deadline for the whole run, and a
// signal per step that fires at the step's own limit or at the overall
// deadline, whichever comes first (coordinator-scale, console-scale).
import { systemClock, type Clock } from '../../../shared/clock.js';

/** The overall deadline of a run and the step limits derived from it. */
export interface StepDeadline {
  /** Aborts (reason: an Error naming the overall limit) when the overall limit is reached. */
  readonly overall: AbortSignal;
  /** Time left before the overall deadline, at least 1 ms. */
  remaining(): number;
  /** At most `ms`, and never past the overall deadline (rounded; for waits that take a number). */
  capped(ms: number): number;
  /**
   * A step's signal: its own limit, and never past the overall deadline. (Not
   * AbortSignal.any + AbortSignal.timeout: Node 20 may garbage-collect the
   * timeout signal, which then never fires.)
   */
  limit(ms: number): AbortSignal;
}

/**
 * Starts the overall clock now: the overall signal aborts `timeoutMs` from
 * now (its timer is unref'd: it keeps no process alive).
 */
export function startStepDeadline(timeoutMs: number, clock: Pick<Clock, 'monotonicMs'> = systemClock): StepDeadline {
  const t0 = clock.monotonicMs();
  const overallAbort = new AbortController();
  setTimeout(() => overallAbort.abort(new Error(`the overall time limit (${timeoutMs / 1000} s) was reached`)), timeoutMs).unref();
  const overall = overallAbort.signal;
  const remaining = (): number => Math.max(1, timeoutMs - (clock.monotonicMs() - t0));
  const capped = (ms: number): number => Math.round(Math.min(ms, remaining()));
  const limit = (ms: number): AbortSignal => {
    const c = new AbortController();
    const timer = setTimeout(() => c.abort(new Error(`step time limit (${(ms / 1000).toFixed(0)} s) reached`)), capped(ms));
    const onOverall = (): void => c.abort(overall.reason);
    overall.addEventListener('abort', onOverall, { once: true });
    c.signal.addEventListener('abort', () => (clearTimeout(timer), overall.removeEventListener('abort', onOverall)), { once: true });
    return c.signal;
  };
  return { overall, remaining, capped, limit };
}
