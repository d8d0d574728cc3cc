import { systemClock, type Clock } from '../../shared/clock.js';
import { OperationKind, OperationState, type CoordinatorEvent, type Node } from '../../shared/gen/vonode/v1/coordinator.js';
import type { Logger } from '../../shared/logger.js';
import type { SiteReader } from './site-reader.js';

/** What the watch reports; callbacks must not throw. */
export interface NodeWatchHandlers {
  /** The full node list, each time the event stream is (re)connected. */
  resync(nodes: Node[]): void;
  /** A node's new record (state change, placement). */
  node(node: Node): void;
  /** A node left the coordinator: its removal (or drain) succeeded, or its deployment was given up. */
  removed(hostname: string): void;
}

/** Timing of the watch. */
export interface NodeWatchOptions {
  /** First pause after the stream breaks or cannot be opened (default 200 ms). */
  initialBackoffMs: number;
  /** Longest pause; it doubles up to this (default 5000 ms). */
  maxBackoffMs: number;
  /** Deadline of the ListNodes call of each resync (default 5000 ms). */
  listTimeoutMs: number;
}

/** Defaults of NodeWatchOptions. */
export const NODE_WATCH_DEFAULTS: NodeWatchOptions = { initialBackoffMs: 200, maxBackoffMs: 5000, listTimeoutMs: 5000 };

/** Lifecycle: `idle` until start(), `connecting` (stream opened, resync running), `following`, `backing-off` after a break, `stopped` for good. */
export type NodeWatchState = 'idle' | 'connecting' | 'following' | 'backing-off' | 'stopped';

/**
 * Follows the coordinator's WatchEvents stream for node changes, forever:
 * each (re)connection opens the stream first and then lists every node, so
 * nothing that happens in between is missed; a broken stream is reopened
 * after a pause that doubles up to maxBackoffMs and resets once connected.
 */
export class NodeWatch {
  private stateValue: NodeWatchState = 'idle';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly reader: SiteReader,
    private readonly handlers: NodeWatchHandlers,
    private readonly logger: Logger,
    private readonly options: NodeWatchOptions = NODE_WATCH_DEFAULTS,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Where the watch stands. */
  get state(): NodeWatchState {
    return this.stateValue;
  }

  /** Starts following in the background (once). */
  start(): void {
    if (this.stateValue !== 'idle') return;
    this.loop = this.run();
  }

  /** Stops following and waits for the loop to end; never throws. */
  async shutdown(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.stateValue = 'stopped';
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = this.options.initialBackoffMs;
    let wasFollowing = false;
    while (!signal.aborted) {
      this.stateValue = 'connecting';
      try {
        await this.follow(signal, () => {
          backoff = this.options.initialBackoffMs;
          wasFollowing = true;
          this.stateValue = 'following';
          this.logger.info('following the coordinator\'s events');
        });
        if (signal.aborted) break;
        this.logger.warn('the coordinator closed the event stream; reconnecting');
      } catch (e) {
        if (signal.aborted) break;
        const level = wasFollowing ? 'warn' : 'debug';
        this.logger[level]({ err: (e as Error).message, retryInMs: backoff }, 'event stream from the coordinator unavailable; pushes resume when it is back');
      }
      wasFollowing = false;
      this.stateValue = 'backing-off';
      await this.clock.sleep(backoff, signal).catch(() => undefined);
      backoff = Math.min(backoff * 2, this.options.maxBackoffMs);
    }
    this.stateValue = 'stopped';
  }

  /** One connection: open the stream, resync, then deliver events until it ends. Throws when it breaks. */
  private async follow(signal: AbortSignal, connected: () => void): Promise<void> {
    const attempt = new AbortController();
    const stop = (): void => attempt.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      const events = this.reader.watchEvents(attempt.signal)[Symbol.asyncIterator]();
      // Ask for the first event now: that opens the call, so events during the resync are buffered, not lost.
      const first = events.next();
      first.catch(() => undefined);
      this.handlers.resync(await untilAborted(this.reader.listNodes(this.options.listTimeoutMs), attempt.signal));
      connected();
      for (let r = await first; !r.done; r = await events.next()) this.dispatch(r.value);
    } finally {
      signal.removeEventListener('abort', stop);
      attempt.abort();
    }
  }

  private dispatch(e: CoordinatorEvent): void {
    const ev = e.event;
    if (ev?.$case === 'node') this.handlers.node(ev.value);
    else if (ev?.$case === 'operation') {
      const op = ev.value;
      const gone =
        (op.state === OperationState.OPERATION_STATE_SUCCEEDED && op.kind !== OperationKind.OPERATION_KIND_DEPLOY) ||
        (op.state === OperationState.OPERATION_STATE_FAILED && op.kind === OperationKind.OPERATION_KIND_DEPLOY);
      if (gone && op.node) this.handlers.removed(op.node);
    }
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (so shutdown never waits on a call in flight). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error('stopped'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
