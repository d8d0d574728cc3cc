import { systemClock, type Clock } from '../../../shared/clock.js';

/** Thrown by until() when time runs out before the probe returned a value. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    this.name = 'WaitTimeoutError';
  }
}

/** A poll: the value waited for, or undefined or false for "not yet". */
export type Probe<T> = () => T | undefined | false | Promise<T | undefined | false>;

/**
 * Calls `probe` every `everyMs` until it returns something other than
 * undefined or false, and resolves with that. Throws WaitTimeoutError
 * (naming `what`) once `timeoutMs` has passed. An error the probe throws ends
 * the wait with that error: a probe that should retry on errors catches them.
 */
export async function until<T>(what: string, probe: Probe<T>, timeoutMs = 20_000, everyMs = 100, clock: Clock = systemClock): Promise<T> {
  const deadline = clock.monotonicMs() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (clock.monotonicMs() > deadline) throw new WaitTimeoutError(what, timeoutMs);
    await clock.sleep(everyMs);
  }
}
