import type { Clock } from '../../shared/clock.js';

interface Waiter {
  since: number;
  resolve(details: Record<string, string>): void;
}

/** How long a report is kept for a waiter that arrives just after it (the MAD can be faster than the bookkeeping). */
const KEEP_MS = 60_000;

/**
 * Meets "node X is visible" reports from a grid service (the GridWay MAD
 * pushing DISCOVER) with the deployments waiting for them (the GW phase).
 */
export class VisibilityReports {
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly recent = new Map<string, { atMono: number; reporter: string }>();

  constructor(private readonly clock: Clock) {}

  /** Records that `reporter` has shown these nodes. */
  report(hostnames: readonly string[], reporter: string): void {
    const now = this.clock.monotonicMs();
    for (const [h, r] of this.recent) if (now - r.atMono > KEEP_MS) this.recent.delete(h);
    for (const h of hostnames) {
      this.recent.set(h, { atMono: now, reporter });
      const list = this.waiters.get(h) ?? [];
      this.waiters.delete(h);
      for (const w of list) w.resolve({ reporter });
    }
  }

  /** Resolves when a report about `hostname` arrives at or after `sinceMono` (monotonic ms); rejects on abort. */
  wait(hostname: string, sinceMono: number, signal: AbortSignal): Promise<Record<string, string>> {
    const seen = this.recent.get(hostname);
    if (seen && seen.atMono >= sinceMono) return Promise.resolve({ reporter: seen.reporter });
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { since: sinceMono, resolve: (d) => (signal.removeEventListener('abort', onAbort), resolve(d)) };
      const onAbort = (): void => {
        this.waiters.set(hostname, (this.waiters.get(hostname) ?? []).filter((w) => w !== waiter));
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(hostname, [...(this.waiters.get(hostname) ?? []), waiter]);
    });
  }
}
