import type { Clock } from '../../shared/clock.js';

interface Waiter {
  since: number;
  resolve(details: Record<string, string>): void;
}

/** How long a report is kept for a waiter that arrives just after it (the MAD can be faster than the bookkeeping). */
const KEEP_MS = 60_000;

/** What a grid service reports it saw: the node schedulable (ends GW), or only told to exist (a detail). */
export type VisibilityMoment = 'schedulable' | 'discover_pushed';

/**
 * Meets "node X is visible" reports from a grid service with the
 * deployments waiting for them (the GW phase). The GridWay MAD reports two
 * moments: `discover_pushed` when gwd was told the node exists (a DISCOVER
 * push: what GW measured before), and `schedulable` when gwd holds
 * attributes with free slots for it (a MONITOR answer, pushed or asked):
 * only that ends GW; the push time goes in the phase's details
 * (`discover_pushed_ms`, from the phase start), so figures stay comparable.
 */
export class VisibilityReports {
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly recent = new Map<string, { atMono: number; reporter: string }>();
  private readonly pushed = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  /** Records that `reporter` has shown these nodes (`schedulable`) or told of them (`discover_pushed`). */
  report(hostnames: readonly string[], reporter: string, moment: VisibilityMoment = 'schedulable'): void {
    const now = this.clock.monotonicMs();
    for (const [h, r] of this.recent) if (now - r.atMono > KEEP_MS) this.recent.delete(h);
    for (const [h, at] of this.pushed) if (now - at > KEEP_MS) this.pushed.delete(h);
    for (const h of hostnames) {
      if (moment === 'discover_pushed') {
        this.pushed.set(h, now);
        continue;
      }
      this.recent.set(h, { atMono: now, reporter });
      const list = this.waiters.get(h) ?? [];
      this.waiters.delete(h);
      for (const w of list) w.resolve(this.details(h, reporter, w.since));
    }
  }

  private details(hostname: string, reporter: string, sinceMono: number): Record<string, string> {
    const pushedAt = this.pushed.get(hostname);
    return pushedAt !== undefined && pushedAt >= sinceMono ? { reporter, discover_pushed_ms: String(Math.round(pushedAt - sinceMono)) } : { reporter };
  }

  /** Resolves when a `schedulable` report about `hostname` arrives at or after `sinceMono` (monotonic ms); rejects on abort. */
  wait(hostname: string, sinceMono: number, signal: AbortSignal): Promise<Record<string, string>> {
    const seen = this.recent.get(hostname);
    if (seen && seen.atMono >= sinceMono) return Promise.resolve(this.details(hostname, seen.reporter, sinceMono));
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
