import { systemClock, type Clock } from '../../../shared/clock.js';

// How far ahead of its rate a transfer may run: enough to keep TCP busy, small enough that no 1-second window goes over the rate by more than a few percent.
const BURST_SECONDS = 0.05;

/**
 * Paces the bytes of one download to the rate the coordinator admitted it
 * at (a token bucket shared by all of the download's connections). Reading
 * waits when it runs ahead, so TCP's own flow control slows the sender
 * (after the first receive window: a peer also paces what it sends, see
 * peer-server.ts); the declared links are kept whatever the source is.
 */
export class RatePacer {
  // Monotonic ms at which the bytes taken so far are "paid for".
  private paidUntilMs = 0;

  constructor(
    private readonly bytesPerSec: number,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The rate, bytes/s (0: unlimited). */
  get rate(): number {
    return this.bytesPerSec;
  }

  /** True when the pacer limits anything (a rate of 0 means unlimited). */
  get limited(): boolean {
    return this.bytesPerSec > 0;
  }

  /** Accounts for `bytes` just received; resolves when reading may go on. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!this.limited) return;
    const now = this.clock.monotonicMs();
    this.paidUntilMs = Math.max(this.paidUntilMs, now) + (bytes / this.bytesPerSec) * 1000;
    const ahead = this.paidUntilMs - now - BURST_SECONDS * 1000;
    if (ahead > 0) await this.clock.sleep(ahead, signal);
  }
}
