import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { UsageRecord } from '../store/records.js';
import { apelRecord, formatApelMessage, type ApelSite } from './apel-message.js';
import type { MessageQueue } from './dirq-queue.js';
import { usageSlices, type UsagePeriod } from './usage-period.js';

/** Meta key of the end of the last period written (unix ms, decimal). */
export const APEL_SENT_UNTIL_KEY = 'accounting.apel.sentUntilMs';

/** What the writer reads and writes in the coordinator's store (a StateStore). */
export interface ApelWriterStore {
  usageRecords(sinceMs: number, untilMs: number): Promise<UsageRecord[]>;
  readMeta(key: string): Promise<string | undefined>;
  /** Throws (NotLeaderError) when this process may not write. */
  writeMeta(key: string, value: string): void;
  durable(): Promise<void>;
}

/** What the writer needs. */
export interface ApelWriterOptions {
  store: ApelWriterStore;
  queue: MessageQueue;
  site: ApelSite;
  /** Period length in ms; periods are aligned to the epoch (1h: each UTC hour). */
  intervalMs: number;
  clock: Clock;
  logger: Logger;
}

/** Lifecycle: idle until start(), running, then stopped for good. */
export type ApelWriterState = 'idle' | 'running' | 'stopped';

/**
 * Writes the leader's usage records as APEL cloud messages, one per
 * completed period (several missed periods, e.g. after a restart, go in one
 * message for all of them: APEL keeps the latest record of each VM, so that
 * is the same as one message each). The end of the last period written is
 * kept in the store's meta, after the message is in the queue: a restart or
 * a new leader goes on from there, so no period is lost; one that crashes
 * between the two sends that period again, with identical records, which
 * APEL replaces rather than adds. Without anything sent yet, it starts at
 * the period of the oldest record.
 */
export class ApelWriter {
  private status: ApelWriterState = 'idle';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private pass: Promise<number> | undefined;

  constructor(private readonly o: ApelWriterOptions) {
    if (!(o.intervalMs >= 1000)) throw new RangeError(`accounting.apel.interval must be at least 1 s, got ${o.intervalMs} ms`);
  }

  /** Where it is in its life. */
  get state(): ApelWriterState {
    return this.status;
  }

  /** Writes what is due now, then again after each period ends. */
  start(): void {
    if (this.status !== 'idle') return;
    this.status = 'running';
    this.loop = this.run();
  }

  /** Stops after the message being written, if any. */
  async shutdown(): Promise<void> {
    this.status = 'stopped';
    this.abort.abort(new Error('APEL writer stopped'));
    await this.loop?.catch(() => undefined);
  }

  /**
   * Writes one message for the completed periods not written yet; resolves
   * with the number of records in it (0: nothing due, or no VM ran). Throws
   * if the queue or the store refuses (nothing is marked written then).
   */
  writeDue(): Promise<number> {
    this.pass ??= this.writeOnce().finally(() => (this.pass = undefined));
    return this.pass;
  }

  /** The period due now, or undefined (nothing complete since the last one written). */
  async due(): Promise<UsagePeriod | undefined> {
    const { store, intervalMs, clock } = this.o;
    const untilMs = Math.floor(clock.nowMs() / intervalMs) * intervalMs;
    const sent = await store.readMeta(APEL_SENT_UNTIL_KEY);
    let sinceMs = sent === undefined ? undefined : Number(sent);
    if (sinceMs === undefined || !Number.isFinite(sinceMs)) {
      const all = await store.usageRecords(0, untilMs);
      if (all.length === 0) return undefined;
      sinceMs = Math.floor(Math.min(...all.map((r) => r.startMs)) / intervalMs) * intervalMs;
    }
    return sinceMs < untilMs ? { sinceMs, untilMs } : undefined;
  }

  private async writeOnce(): Promise<number> {
    const { store, queue, site, logger } = this.o;
    const period = await this.due();
    if (!period) return 0;
    const slices = usageSlices(await store.usageRecords(period.sinceMs, period.untilMs), period, period.untilMs);
    let name = '';
    if (slices.length) name = await queue.add(formatApelMessage(slices.map((s) => apelRecord(s, site))));
    store.writeMeta(APEL_SENT_UNTIL_KEY, String(period.untilMs));
    await store.durable();
    logger.info(
      { since: new Date(period.sinceMs).toISOString(), until: new Date(period.untilMs).toISOString(), records: slices.length, message: name || null },
      slices.length ? 'APEL usage message written' : 'no VM ran in the period: no APEL message',
    );
    return slices.length;
  }

  private async run(): Promise<void> {
    const { clock, intervalMs, logger } = this.o;
    while (this.status === 'running') {
      try {
        await this.writeDue();
      } catch (e) {
        if (this.status !== 'running') return;
        logger.error({ err: errorMessage(e) }, 'could not write the APEL usage message; trying again next period');
      }
      // Wake just after the next period ends.
      const next = (Math.floor(clock.nowMs() / intervalMs) + 1) * intervalMs;
      try {
        await clock.sleep(Math.max(10, next - clock.nowMs() + 10), this.abort.signal);
      } catch {
        return;
      }
    }
  }
}
