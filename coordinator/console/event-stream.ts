import type { ServerResponse } from 'node:http';
import { CoordinatorEvent } from '../../shared/gen/vonode/v1/coordinator.js';
import type { EventBus } from '../events/event-bus.js';

/** How the stream paces itself. */
export interface EventStreamLimits {
  /** Events arriving within this long go out as one write (default 100 ms). */
  flushMs: number;
  /** A comment line this often keeps proxies and the browser from timing out (default 15 s). */
  pingMs: number;
  /** A client further behind than this many bytes is cut off; its browser reconnects and reloads (default 4 MiB). */
  maxBufferedBytes: number;
}

export const DEFAULT_STREAM_LIMITS: EventStreamLimits = { flushMs: 100, pingMs: 15_000, maxBufferedBytes: 4 * 1024 * 1024 };

/**
 * One browser's server-sent event stream: every coordinator event as a
 * `data:` message of its proto3 JSON. Events are collected and written once
 * per `flushMs`, so a burst of thousands costs a few writes, not thousands;
 * the work per event is one JSON encoding whatever the site's size.
 */
export class ConsoleEventStream {
  private pending: string[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly pingTimer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    events: EventBus,
    private readonly res: ServerResponse,
    private readonly limits: EventStreamLimits = DEFAULT_STREAM_LIMITS,
    private readonly onClose: (why: string) => void = () => undefined,
  ) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    // retry: how long the browser waits before reconnecting after a cut.
    res.write('retry: 2000\n: vonode console events\n\n');
    this.unsubscribe = events.subscribe((e) => this.add(e));
    this.pingTimer = setInterval(() => this.write(': ping\n\n'), limits.pingMs);
    this.pingTimer.unref();
    res.on('close', () => this.close('client went away'));
  }

  private add(e: CoordinatorEvent): void {
    if (this.closed) return;
    this.pending.push(`data: ${JSON.stringify(CoordinatorEvent.toJSON(e))}\n\n`);
    this.flushTimer ??= setTimeout(() => this.flush(), this.limits.flushMs);
  }

  private flush(): void {
    this.flushTimer = undefined;
    const chunk = this.pending.join('');
    this.pending = [];
    this.write(chunk);
  }

  private write(chunk: string): void {
    if (this.closed || chunk === '') return;
    if (this.res.writableLength > this.limits.maxBufferedBytes) {
      this.close(`more than ${this.limits.maxBufferedBytes} bytes behind`);
      this.res.destroy();
      return;
    }
    this.res.write(chunk);
  }

  /** Stops the stream (server shutdown, client gone, or too slow). */
  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.pingTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.pending = [];
    if (!this.res.writableEnded) this.res.end();
    this.onClose(why);
  }
}
