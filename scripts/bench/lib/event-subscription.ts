import { errorMessage } from '../../../shared/errors.js';
import type { CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';

/**
 * A bench's background WatchEvents subscriber: start() subscribes, every
 * event goes to onEvent, stop() ends it. A stream that ends early (not by
 * stop()) leaves its reason in `error`.
 */
export abstract class EventSubscription {
  error: string | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(protected readonly client: CoordinatorClient) {}

  protected abstract onEvent(e: CoordinatorEvent): void;

  start(): void {
    this.loop = (async () => {
      try {
        for await (const e of this.client.watchEvents(this.abort.signal)) this.onEvent(e);
      } catch (e) {
        if (!this.abort.signal.aborted) this.error = errorMessage(e);
      }
    })();
  }

  /** Ends the subscription and waits for its loop. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }
}
