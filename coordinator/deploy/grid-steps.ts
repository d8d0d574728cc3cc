import type { Clock } from '../../shared/clock.js';
import { DeadlineError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { PhaseMark, PhaseName } from '../../shared/phases.js';
import type { NodeRecord } from '../store/records.js';
import type { PhaseTimeouts } from './attempt-runner.js';

/** One step the coordinator itself runs and times (SR, PUB, GW, DRN); resolves with details for the phase event. */
export type GridStep = (node: NodeRecord, signal: AbortSignal) => Promise<Record<string, string>>;

/**
 * The grid-side steps around a node's life, each optional: SR registers a
 * booted node in its VO's batch queue (the deployment fails without it);
 * PUB and GW then wait, side by side, until the information system and the
 * meta-scheduler show it (the node is already usable: a step that times out
 * is logged, not fatal); DRN drains it from the batch system before removal.
 */
export interface GridSteps {
  register?: GridStep;
  visibility: Array<{ phase: 'PUB' | 'GW'; step: GridStep }>;
  drain?: GridStep;
  /** Forgets a node in the batch system after a failed deployment (idempotent). */
  forget?(hostname: string): Promise<void>;
}

/** No batch system, information system or meta-scheduler configured. */
export const noGridSteps: GridSteps = { visibility: [] };

/**
 * Runs one coordinator-side phase with its start and end marks on the
 * coordinator's monotonic clock, under the phase's timeout.
 */
export async function runTimedPhase(
  phase: PhaseName,
  node: NodeRecord,
  operationId: string,
  step: GridStep,
  deps: { clock: Clock; timeouts: PhaseTimeouts; onPhase(mark: PhaseMark): void; signal: AbortSignal },
): Promise<Record<string, string>> {
  const { clock } = deps;
  const start = clock.monotonicMs();
  const mark = (edge: 'start' | 'end', details: Record<string, string>, durationMs?: number): PhaseMark => ({
    operationId, hostname: node.hostname, phase, edge, monotonicMs: clock.monotonicMs(), unixMs: clock.nowMs(), details,
    ...(durationMs !== undefined ? { durationMs } : {}),
  });
  deps.onPhase(mark('start', {}));
  const limit = deps.timeouts[phase];
  const abort = new AbortController();
  const onOuter = (): void => abort.abort(deps.signal.reason);
  deps.signal.addEventListener('abort', onOuter, { once: true });
  const timer = limit === undefined ? undefined : setTimeout(() => abort.abort(new DeadlineError(`phase ${phase} of ${node.hostname} did not end within ${limit} ms (deploy.phaseTimeouts.${phase})`)), limit);
  try {
    const details = await Promise.race([
      step(node, abort.signal),
      new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true })),
    ]);
    deps.onPhase(mark('end', details, clock.monotonicMs() - start));
    return details;
  } finally {
    clearTimeout(timer);
    deps.signal.removeEventListener('abort', onOuter);
  }
}

/** Runs the visibility phases side by side; a failure or timeout is logged and leaves that phase without an end. */
export async function runVisibility(
  steps: GridSteps['visibility'],
  node: NodeRecord,
  operationId: string,
  deps: { clock: Clock; timeouts: PhaseTimeouts; onPhase(mark: PhaseMark): void; signal: AbortSignal; logger: Logger },
): Promise<void> {
  await Promise.all(
    steps.map(({ phase, step }) =>
      runTimedPhase(phase, node, operationId, step, deps).catch((e: unknown) => {
        deps.logger.warn({ node: node.hostname, phase, err: errorMessage(e) }, 'node usable but not seen by this grid service in time');
      }),
    ),
  );
}
