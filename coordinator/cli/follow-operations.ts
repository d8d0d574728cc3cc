import type { CoordinatorEvent } from '../../shared/gen/vonode/v1/coordinator.js';
import type { CliContext } from './context.js';
import { EXIT } from './errors.js';
import { streamOutcome } from './render/operation-report.js';
import { OperationTracker } from './render/operation-tracker.js';
import { BarProgress, LineProgress, type ProgressDisplay } from './render/progress-display.js';

const DETACHED =
  'interrupted: stopped following; the operations go on at the coordinator. Follow them with `vonode events`, see the result with `vonode nodes`\n';

/**
 * Shows the events of a DeployNodes/DrainNode/RemoveNode stream (live bars
 * on a terminal, one line per phase end otherwise) and judges the result:
 * EXIT.ok only if every operation succeeded, EXIT.failure with each error and
 * a hint otherwise, EXIT.interrupted on Ctrl-C. A broken stream is rethrown
 * after saying which operations were still open.
 */
export async function followOperations(ctx: CliContext, events: AsyncIterable<CoordinatorEvent>, what: string): Promise<number> {
  const tracker = new OperationTracker();
  const display: ProgressDisplay = ctx.io.isTTY ? new BarProgress(ctx.io.stdout) : new LineProgress((t) => ctx.io.out(t));
  let stopped = false;
  const stop = (): void => {
    if (!stopped) display.stop();
    stopped = true;
  };
  try {
    for await (const event of events) for (const change of tracker.apply(event)) display.update(change);
  } catch (err) {
    stop();
    if (ctx.io.signal.aborted) {
      ctx.io.err(DETACHED);
      return EXIT.interrupted;
    }
    // Say what was open when the stream broke; the caller then explains the transport error.
    if (tracker.operations().length) {
      ctx.io.err(`${streamOutcome(tracker.operations(), what).lines.join('\n')}\n`);
    }
    throw err;
  } finally {
    stop();
  }
  if (ctx.io.signal.aborted) {
    ctx.io.err(DETACHED);
    return EXIT.interrupted;
  }
  const outcome = streamOutcome(tracker.operations(), what);
  if (outcome.ok) {
    ctx.io.out(`${outcome.lines.join('\n')}\n`);
    return EXIT.ok;
  }
  ctx.io.err(`${outcome.lines.join('\n')}\n`);
  return EXIT.failure;
}
