/** Time behind a narrow interface so phase timing and timeouts are testable. */
export interface Clock {
  /** CLOCK_MONOTONIC in milliseconds; comparable between processes on one host. */
  monotonicMs(): number;
  /** Wall-clock Unix time in milliseconds, for display only. */
  nowMs(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: process.hrtime (CLOCK_MONOTONIC) and Date. */
export const systemClock: Clock = {
  monotonicMs: () => Number(process.hrtime.bigint()) / 1e6,
  nowMs: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
