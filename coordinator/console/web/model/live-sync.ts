import { isUnauthorized, type ApiClient } from './api-client.js';
import type { CoordinatorEventJson } from './api-types.js';
import type { SiteModel } from './site-model.js';
import { Throttle } from './throttle.js';
import type { Timers } from './timers.js';

/** What the page's event stream calls back (the browser adapts an EventSource to it). */
export interface StreamHandlers {
  open(): void;
  message(data: string): void;
  /** `closed`: the stream gave up (EventSource readyState CLOSED) rather than retrying by itself. */
  error(closed: boolean): void;
}

/** An open event stream. */
export interface StreamHandle {
  close(): void;
}

/** Opens `/api/events`. */
export type OpenStream = (handlers: StreamHandlers) => StreamHandle;

/** The connection as the header shows it. `live`: the stream is open. */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

/** What LiveSync works with; every side effect is one of these. */
export interface LiveSyncDeps {
  model: SiteModel;
  api: ApiClient;
  openStream: OpenStream;
  timers: Timers;
  /** Re-render: called at most once per animation frame, however many events arrived. */
  onRender(): void;
  onState(state: LiveState): void;
  /** A request or the stream was refused (401): show the login form. */
  onUnauthorized(): void;
  /** A load failed (message), or the next one succeeded (undefined). */
  onError(message: string | undefined): void;
  /** Least time between two /api/status requests while events arrive (default 2000 ms). */
  statusIntervalMs?: number;
  /** Pauses before opening a stream the server closed, one per consecutive failure (the last repeats). */
  reopenDelaysMs?: readonly number[];
  /** Operations the list loads (default 200). */
  operationsLimit?: number;
}

const DEFAULT_REOPEN_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000];

/**
 * Keeps the site model in step with the coordinator over exactly one event
 * stream. Each open of the stream (the first, and every reopen after an
 * error, which may have left a gap) loads the snapshots: status, hosts,
 * nodes and the recent operations. Events are applied as they come (O(1)
 * each); the page is re-rendered once per frame; the status, whose VO
 * counters and demand only the server computes, is fetched again at most once
 * per `statusIntervalMs` while events keep coming. Nothing else polls.
 */
export class LiveSync {
  private stream: StreamHandle | undefined;
  private everOpened = false;
  private loadedWithoutStream = false;
  private failures = 0;
  private stopped = false;
  private framePending = false;
  private reopenTimer: unknown;
  private readonly statusThrottle: Throttle;

  constructor(private readonly deps: LiveSyncDeps) {
    this.statusThrottle = new Throttle(deps.statusIntervalMs ?? 2000, deps.timers, () => this.loadStatus());
  }

  /** Opens the stream (the snapshots load once it is open). */
  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes the stream and cancels pending work. */
  stop(): void {
    this.stopped = true;
    this.stream?.close();
    this.stream = undefined;
    this.statusThrottle.stop();
    if (this.reopenTimer !== undefined) this.deps.timers.clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.deps.onState('stopped');
  }

  /** Loads every snapshot again: status, hosts, nodes, recent operations. Never throws (reports through onError/onUnauthorized). */
  async reload(): Promise<void> {
    const { api, model } = this.deps;
    const limit = this.deps.operationsLimit ?? 200;
    const results = await Promise.allSettled([
      this.fetchStatus(),
      this.snapshot(() => api.hosts(), (body, mark) => model.replaceHosts(body.hosts ?? [], mark)),
      this.snapshot(() => api.nodes(), (body, mark) => model.replaceNodes(body.nodes ?? [], mark)),
      this.snapshot(() => api.operations(limit), (body, mark) => model.replaceOperations(body.operations ?? [], mark)),
    ]);
    if (this.stopped) return;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) this.fail(failed.reason);
    else this.deps.onError(undefined);
  }

  private connect(): void {
    if (this.stopped) return;
    this.stream?.close(); // one stream per page, always
    this.deps.onState(this.everOpened ? 'reconnecting' : 'connecting');
    this.stream = this.deps.openStream({
      open: () => this.onOpen(),
      message: (data) => this.onMessage(data),
      error: (closed) => this.onStreamError(closed),
    });
  }

  private onOpen(): void {
    if (this.stopped) return;
    this.everOpened = true;
    this.failures = 0;
    this.deps.onState('live');
    void this.reload();
  }

  private onMessage(data: string): void {
    if (this.stopped) return;
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not an event: ignore rather than break the stream
    }
    if (!event || typeof event !== 'object') return;
    this.deps.model.apply(event as CoordinatorEventJson);
    this.scheduleRender();
    this.statusThrottle.poke();
  }

  private onStreamError(closed: boolean): void {
    if (this.stopped) return;
    this.deps.onState(this.everOpened ? 'reconnecting' : 'connecting');
    // The stream never opened: show the snapshots anyway (once) while it keeps trying.
    if (!this.everOpened && !this.loadedWithoutStream) {
      this.loadedWithoutStream = true;
      void this.reload();
    }
    if (!closed) return; // the EventSource retries by itself; its next open reloads
    this.stream?.close();
    this.stream = undefined;
    // A closed stream may mean the session expired: ask before reopening.
    this.deps.api.whoami().then(
      () => this.scheduleReopen(),
      (e: unknown) => (isUnauthorized(e) ? this.unauthorized() : this.scheduleReopen()),
    );
  }

  private scheduleReopen(): void {
    if (this.stopped || this.reopenTimer !== undefined) return;
    const delays = this.deps.reopenDelaysMs ?? DEFAULT_REOPEN_DELAYS_MS;
    const delay = delays[Math.min(this.failures, delays.length - 1)] ?? 1000;
    this.failures++;
    this.reopenTimer = this.deps.timers.setTimeout(() => {
      this.reopenTimer = undefined;
      this.connect();
    }, delay);
  }

  private scheduleRender(): void {
    if (this.framePending) return;
    this.framePending = true;
    this.deps.timers.requestFrame(() => {
      this.framePending = false;
      this.deps.onRender();
    });
  }

  private async fetchStatus(): Promise<void> {
    this.deps.model.setStatus(await this.deps.api.status());
    this.scheduleRender();
  }

  private async loadStatus(): Promise<void> {
    try {
      await this.fetchStatus();
    } catch (e) {
      this.fail(e);
    }
  }

  private async snapshot<T>(load: () => Promise<T>, replace: (body: T, mark: number) => void): Promise<void> {
    const mark = this.deps.model.beginSnapshot();
    try {
      replace(await load(), mark);
      this.scheduleRender();
    } finally {
      this.deps.model.endSnapshot();
    }
  }

  private fail(e: unknown): void {
    if (isUnauthorized(e)) this.unauthorized();
    else this.deps.onError(e instanceof Error ? e.message : String(e));
  }

  private unauthorized(): void {
    if (this.stopped) return;
    this.stop();
    this.deps.onUnauthorized();
  }
}
