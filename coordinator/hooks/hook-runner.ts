import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { HookEvent, HookEventName } from './hook-event.js';
import { processHookSpawner, type HookOutcome, type HookSpawner } from './hook-process.js';

/** What the runner runs and how. */
export interface HookRunnerOptions {
  /** Executables per event (absolute paths), run in the order given. */
  hooks: Partial<Record<HookEventName, readonly string[]>>;
  /** A hook still running after this long is sent SIGTERM, then SIGKILL killGraceMs later. */
  timeoutMs: number;
  /** Hooks running at once at most. */
  maxConcurrent: number;
  /** Hook runs waiting at most; beyond it the oldest waiting one is dropped (logged). */
  maxQueued: number;
  /** Between SIGTERM and SIGKILL (default 5 s). */
  killGraceMs?: number;
  /** The environment PATH, LANG, LC_ALL and TZ are taken from (default: this process's); nothing else of it is passed on. */
  env?: NodeJS.ProcessEnv;
  spawner?: HookSpawner;
  clock: Clock;
  logger: Logger;
}

/** Lifecycle: accepting events, then (shutdown) finishing what runs, then done. */
export type HookRunnerState = 'running' | 'stopping' | 'stopped';

/** One executable to run for one event. */
interface HookJob {
  path: string;
  event: HookEvent;
}

/** PATH of a hook when the coordinator has none (systemd gives one). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** How much of a failing hook's stderr goes into its log line. */
const LOGGED_STDERR_CHARS = 500;

/**
 * Runs the executables configured for each hook event: the event as JSON on
 * stdin, argv `[path, event]`, env holding only PATH, LANG, LC_ALL, TZ and
 * VONODE_HOOK_EVENT. At most `maxConcurrent` run at once and `maxQueued`
 * wait; each is killed past its timeout. Every outcome is logged; nothing a
 * hook does (hang, fail, be missing) reaches the caller: `fire` never
 * blocks and never throws.
 */
export class HookRunner {
  state: HookRunnerState = 'running';
  private readonly waiting: HookJob[] = [];
  private readonly active = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private droppedCount = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: HookRunnerOptions) {}

  /** Queues the event's hooks (none configured: nothing); drops the oldest waiting run when the queue is full. */
  fire(event: HookEvent): void {
    if (this.state !== 'running') return;
    for (const path of this.options.hooks[event.event] ?? []) {
      if (this.waiting.length >= this.options.maxQueued) {
        const dropped = this.waiting.shift()!;
        this.droppedCount++;
        this.options.logger.warn(
          { hook: dropped.path, event: dropped.event.event, ...subject(dropped.event), maxQueued: this.options.maxQueued, dropped: this.droppedCount },
          'hook queue full: dropped the oldest waiting hook run (hooks are slower than events; raise hooks.maxConcurrent or make them quicker)',
        );
      }
      this.waiting.push({ path, event });
      // Into a free slot at once: only runs that must wait count against maxQueued.
      this.startWaiting();
    }
  }

  /** Hook runs waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Hook runs in progress. */
  get running(): number {
    return this.active.size;
  }

  /** Hook runs dropped from a full queue since start. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Resolves when nothing waits or runs. */
  idle(): Promise<void> {
    if (this.waiting.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes no more events, drops waiting runs, gives running ones `graceMs` to end, then kills them (SIGTERM, then SIGKILL). */
  async shutdown(graceMs = 3000): Promise<void> {
    if (this.state !== 'running') return this.idle();
    this.state = 'stopping';
    if (this.waiting.length) this.options.logger.warn({ dropped: this.waiting.length }, 'coordinator stopping: waiting hook runs dropped');
    this.waiting.length = 0;
    const grace = new AbortController();
    await Promise.race([this.idle(), this.options.clock.sleep(graceMs, grace.signal).catch(() => undefined)]);
    grace.abort();
    this.forceShutdown();
    await this.idle();
    this.state = 'stopped';
  }

  /** Kills running hooks at once (SIGTERM, then SIGKILL) and drops waiting ones. */
  forceShutdown(): void {
    this.state = this.state === 'running' ? 'stopping' : this.state;
    this.waiting.length = 0;
    this.abort.abort();
  }

  private startWaiting(): void {
    while (this.active.size < this.options.maxConcurrent && this.waiting.length) {
      const job = this.waiting.shift()!;
      const run: Promise<void> = this.runOne(job).finally(() => {
        this.active.delete(run);
        this.startWaiting();
        if (this.waiting.length === 0 && this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
      this.active.add(run);
    }
  }

  private async runOne(job: HookJob): Promise<void> {
    const { clock, logger } = this.options;
    const started = clock.monotonicMs();
    let outcome: HookOutcome;
    try {
      outcome = await (this.options.spawner ?? processHookSpawner).run({
        argv: [job.path, job.event.event], input: `${JSON.stringify(job.event)}\n`, env: this.hookEnv(job.event.event),
        timeoutMs: this.options.timeoutMs, killGraceMs: this.options.killGraceMs ?? 5000, signal: this.abort.signal,
      });
    } catch (e) {
      // A spawner never rejects; should one, the hook is logged as not started rather than breaking the queue.
      outcome = { code: null, signal: null, timedOut: false, aborted: false, stderr: '', startError: (e as Error).message };
    }
    const durationMs = Math.round(clock.monotonicMs() - started);
    const fields = {
      hook: job.path, event: job.event.event, ...subject(job.event), durationMs,
      code: outcome.code, signal: outcome.signal, stderr: outcome.stderr.trim().slice(-LOGGED_STDERR_CHARS) || undefined,
    };
    if (outcome.startError !== undefined) logger.warn({ ...fields, err: outcome.startError }, 'hook could not be started (missing or not executable? check with vonode-coordinator --check)');
    else if (outcome.aborted) logger.warn(fields, 'hook killed: the coordinator is stopping');
    else if (outcome.timedOut) logger.warn({ ...fields, timeoutMs: this.options.timeoutMs }, 'hook ran past hooks.timeout: killed');
    else if (outcome.code !== 0) logger.warn(fields, 'hook failed');
    else logger.info(fields, 'hook ran');
  }

  private hookEnv(event: HookEventName): NodeJS.ProcessEnv {
    const base = this.options.env ?? process.env;
    const env: NodeJS.ProcessEnv = { PATH: base['PATH'] || DEFAULT_PATH, VONODE_HOOK_EVENT: event };
    for (const key of ['LANG', 'LC_ALL', 'TZ']) if (base[key]) env[key] = base[key];
    return env;
  }
}

/** What an event is about, for log lines. */
function subject(e: HookEvent): { op?: string; node?: string; host?: string } {
  return { op: e.operation?.id, node: e.node?.hostname, host: e.host?.name ?? e.node?.host };
}
