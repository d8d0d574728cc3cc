import type { Timers } from './timers.js';

/**
 * Runs `task` at most once per `intervalMs` however often it is poked: the
 * first poke after a quiet interval runs it at once, pokes within the
 * interval run it once when the interval is over (so the last change is
 * always picked up). A task still running when the next run is due is not
 * started twice: the run waits for it.
 */
export class Throttle {
  private lastRunMs = -Infinity;
  private timer: unknown;
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly timers: Timers,
    private readonly task: () => Promise<void> | void,
  ) {}

  /** Asks for a run. */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastRunMs + this.intervalMs - this.timers.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
  }

  /** Cancels a pending run and ignores later pokes. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    this.running = true;
    this.lastRunMs = this.timers.now();
    try {
      await this.task();
    } catch {
      // The task reports its own errors; a failed run must not stop later ones.
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.poke();
    }
  }
}
