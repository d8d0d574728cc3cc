import type { Clock } from '../../shared/clock.js';
import type { PhaseMark, PhaseName } from '../../shared/phases.js';

/** Receives phase boundaries as they happen. */
export type PhaseSink = (mark: PhaseMark) => void;

/** Stamps phase boundaries of one operation with the host's monotonic clock. */
export class PhaseRecorder {
  private readonly started = new Map<PhaseName, number>();

  constructor(
    private readonly operationId: string,
    private readonly hostname: string,
    private readonly clock: Clock,
    private readonly sink: PhaseSink,
  ) {}

  /** Marks the start of a phase; `atMs` backdates it (e.g. CR starts when the request arrived). */
  start(phase: PhaseName, details: Record<string, string> = {}, atMs = this.clock.monotonicMs()): void {
    this.started.set(phase, atMs);
    this.emit({ phase, edge: 'start', monotonicMs: atMs, details });
  }

  /** Marks the end of a phase with its duration. */
  end(phase: PhaseName, details: Record<string, string> = {}): number {
    const now = this.clock.monotonicMs();
    const durationMs = now - (this.started.get(phase) ?? now);
    this.emit({ phase, edge: 'end', monotonicMs: now, durationMs, details });
    return durationMs;
  }

  /** Runs `work` as one phase; the details it returns go on the end mark. */
  async phase<T>(phase: PhaseName, work: () => Promise<T>, details?: (result: T) => Record<string, string>): Promise<T> {
    this.start(phase);
    const result = await work();
    this.end(phase, details?.(result) ?? {});
    return result;
  }

  private emit(mark: Omit<PhaseMark, 'operationId' | 'hostname' | 'unixMs'>): void {
    this.sink({ operationId: this.operationId, hostname: this.hostname, unixMs: this.clock.nowMs(), ...mark });
  }
}
