/**
 * The clock and timers the live logic uses, passed in so it runs under
 * Node tests with fakes (the browser passes Date.now, setTimeout and
 * requestAnimationFrame).
 */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs `fn` before the next repaint. */
  requestFrame(fn: () => void): void;
}
