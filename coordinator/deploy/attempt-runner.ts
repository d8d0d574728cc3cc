import { status } from '@grpc/grpc-js';
import { DeadlineError, errorMessage } from '../../shared/errors.js';
import type { DeployEvent, RemoveResult } from '../../shared/gen/vonode/v1/agent.js';
import type { Domain } from '../../shared/gen/vonode/v1/common.js';
import type { VmSpec } from '../../shared/gen/vonode/v1/common.js';
import type { PhaseMark, PhaseName } from '../../shared/phases.js';
import { isAgentCallError, type AgentClient } from '../../shared/rpc/agent-client.js';
import { phaseMarkFromWire } from '../../shared/rpc/phase-codec.js';

/** Per-phase time limits of an attempt (phases without one are unlimited). */
export type PhaseTimeouts = Partial<Record<PhaseName, number>>;

/** Callbacks of one attempt: each phase boundary as it arrives. */
export interface AttemptObserver {
  onPhase(mark: PhaseMark): void;
}

/**
 * Consumes one agent stream (Deploy or Remove) with a timer per phase: a
 * phase that does not end within its limit aborts the call (the agent then
 * undoes what it did) and the attempt fails with DeadlineError.
 */
async function consume(
  events: (signal: AbortSignal) => AsyncIterable<DeployEvent>,
  observer: AttemptObserver,
  timeouts: PhaseTimeouts,
  outer?: AbortSignal,
): Promise<DeployEvent['event']> {
  const abort = new AbortController();
  const onOuter = (): void => abort.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  const timers = new Map<PhaseName, ReturnType<typeof setTimeout>>();
  let timedOut: DeadlineError | undefined;
  let last: DeployEvent['event'];
  try {
    for await (const e of events(abort.signal)) {
      if (e.event?.$case !== 'phase') {
        last = e.event;
        continue;
      }
      const mark = phaseMarkFromWire(e.event.value);
      const limit = timeouts[mark.phase];
      if (mark.edge === 'start' && limit !== undefined) {
        timers.set(mark.phase, setTimeout(() => {
          timedOut = new DeadlineError(`phase ${mark.phase} did not end within ${limit} ms on the agent; the attempt was abandoned (raise deploy.phaseTimeouts.${mark.phase} if this host is slow)`);
          abort.abort(timedOut);
        }, limit));
      } else if (mark.edge === 'end') {
        clearTimeout(timers.get(mark.phase));
        timers.delete(mark.phase);
      }
      observer.onPhase(mark);
    }
  } catch (e) {
    throw timedOut ?? e;
  } finally {
    for (const t of timers.values()) clearTimeout(t);
    outer?.removeEventListener('abort', onOuter);
  }
  return last;
}

/** Runs one deployment attempt on an agent; resolves with the running domain. Throws AgentCallError or DeadlineError. */
export async function runDeployAttempt(
  client: AgentClient,
  operationId: string,
  spec: VmSpec,
  observer: AttemptObserver,
  timeouts: PhaseTimeouts,
  signal?: AbortSignal,
): Promise<Domain> {
  const last = await consume((s) => client.deploy({ operationId, vm: spec }, s), observer, timeouts, signal);
  if (last?.$case !== 'done') throw new Error(`the agent ended Deploy of ${spec.hostname} without a result`);
  return last.value;
}

/** Runs one removal on an agent; resolves with what it did, or undefined if the agent had no such domain. */
export async function runRemoveAttempt(
  client: AgentClient,
  operationId: string,
  hostname: string,
  shutdownTimeoutMs: number,
  observer: AttemptObserver,
  timeouts: PhaseTimeouts,
): Promise<RemoveResult | undefined> {
  try {
    const last = await consume(
      (s) => client.remove({ operationId, hostname, shutdownTimeoutS: Math.ceil(shutdownTimeoutMs / 1000) }, s),
      observer,
      timeouts,
    );
    if (last?.$case !== 'removed') throw new Error(`the agent ended Remove of ${hostname} without a result`);
    return last.value;
  } catch (e) {
    if (isAgentCallError(e) && e.code === status.NOT_FOUND) return undefined;
    throw e;
  }
}

/** Short text of an attempt's failure for the operation record. */
export function attemptError(host: string, e: unknown): string {
  return `on ${host}: ${errorMessage(e)}`;
}
