/**
 * Runs tasks one at a time in arrival order (a FIFO mutex). Used wherever
 * vonode must not act in parallel: deployments on one host, rewrites of one
 * config file.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Runs `task` after every task queued before it has settled; resolves with its result. */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(
      () => (this.waiting--, task()),
      () => (this.waiting--, task()),
    );
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Tasks queued or running. */
  get depth(): number {
    return this.waiting;
  }
}
