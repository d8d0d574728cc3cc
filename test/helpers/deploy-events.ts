import type { DeployEvent } from '../../shared/gen/vonode/v1/agent.js';
import type { Domain } from '../../shared/gen/vonode/v1/common.js';
import type { RemoveResult } from '../../shared/gen/vonode/v1/agent.js';
import { phaseMarkFromWire } from '../../shared/rpc/phase-codec.js';
import type { PhaseMark } from '../../shared/phases.js';

/** Everything a Deploy or Remove stream said. */
export interface Collected {
  marks: PhaseMark[];
  done?: Domain;
  removed?: RemoveResult;
}

/** Drains a Deploy/Remove event stream; rethrows the stream's error. */
export async function collect(events: AsyncIterable<DeployEvent>): Promise<Collected> {
  const out: Collected = { marks: [] };
  for await (const e of events) {
    if (e.event?.$case === 'phase') out.marks.push(phaseMarkFromWire(e.event.value));
    if (e.event?.$case === 'done') out.done = e.event.value;
    if (e.event?.$case === 'removed') out.removed = e.event.value;
  }
  return out;
}

/** Duration (ms) of a phase from its end mark. */
export function durationOf(marks: PhaseMark[], phase: string): number {
  const end = marks.find((m) => m.phase === phase && m.edge === 'end');
  if (!end) throw new Error(`no end mark for ${phase}`);
  return end.durationMs ?? NaN;
}

/** Monotonic time of a phase boundary. */
export function at(marks: PhaseMark[], phase: string, edge: 'start' | 'end'): number {
  const m = marks.find((x) => x.phase === phase && x.edge === edge);
  if (!m) throw new Error(`no ${edge} mark for ${phase}`);
  return m.monotonicMs;
}
