import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { DEPLOY_PHASES, REMOVE_PHASES } from '../../../shared/phases.js';
import { formatSeconds } from './format.js';
import { changeLine, opLabel } from './operation-report.js';
import type { TrackedOperation, TrackerChange } from './operation-tracker.js';

/** Shows the progress of a streamed command as changes arrive. */
export interface ProgressDisplay {
  /** Shows one change. */
  update(change: TrackerChange): void;
  /** Ends the display (bars are left on screen, the cursor restored). */
  stop(): void;
}

/** For pipes and logs: one line per phase end and per state change (see changeLine). */
export class LineProgress implements ProgressDisplay {
  constructor(private readonly write: (text: string) => void) {}

  /** Prints the change's line, if it has one. */
  update(change: TrackerChange): void {
    const line = changeLine(change);
    if (line !== undefined) this.write(`${line}\n`);
  }

  /** Nothing to tear down. */
  stop(): void {}
}

/** How many phases a bar counts for an operation kind (the bar fills as they end). */
function phaseCount(kind: string): number {
  return kind === 'deploy' ? DEPLOY_PHASES.length : REMOVE_PHASES.length;
}

/** The text after a bar: the current phase and the operation's state. */
export function barStatus(op: TrackedOperation): string {
  switch (op.status) {
    case 'queued':
      return 'queued';
    case 'retrying':
      return `retrying: ${op.error}`.slice(0, 60);
    case 'succeeded':
      return op.createdUnixMs && op.finishedUnixMs ? `succeeded ${formatSeconds(op.finishedUnixMs - op.createdUnixMs)} s` : 'succeeded';
    case 'failed':
      return `FAILED${op.phase && op.phaseRunning ? ` in ${op.phase}` : ''}`;
    case 'running':
      if (!op.phase) return `running on ${op.host || '?'}`;
      return op.phaseRunning ? `${op.phase}…` : `${op.phase} done`;
  }
}

/** For terminals: one live cli-progress bar per operation, labelled with its node and phase. */
export class BarProgress implements ProgressDisplay {
  private readonly multi: MultiBar;
  private readonly bars = new Map<string, { bar: SingleBar; total: number }>();

  constructor(stream: NodeJS.WritableStream) {
    this.multi = new MultiBar(
      {
        stream,
        format: ' {node} |{bar}| {value}/{total} {status}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        // Ctrl-C is handled by the CLI, which stops the bars itself.
        gracefulExit: false,
        autopadding: true,
      },
      Presets.shades_classic,
    );
  }

  /** Creates the operation's bar on first sight, then moves it. */
  update(change: TrackerChange): void {
    const op = change.op;
    let entry = this.bars.get(op.id);
    const payload = { node: opLabel(op).padEnd(14), status: barStatus(op) };
    if (!entry) {
      const total = phaseCount(op.kind);
      entry = { bar: this.multi.create(total, 0, payload), total };
      this.bars.set(op.id, entry);
    }
    const value = op.status === 'succeeded' ? entry.total : Math.min(op.phasesDone.length, entry.total);
    entry.bar.update(value, payload);
    // Retries and failures also go above the bars, so their reason is not cut off.
    if (change.type === 'state' && (op.status === 'retrying' || op.status === 'failed')) {
      this.multi.log(`${changeLine(change) ?? ''}\n`);
    }
  }

  /** Draws the final state and restores the cursor. */
  stop(): void {
    // MultiBar.stop() redraws the bars but drops lines still waiting in its log buffer: flush them first.
    this.multi.update();
    this.multi.stop();
  }
}
