import { Edge, Phase, type PhaseEvent } from '../gen/vonode/v1/common.js';
import type { PhaseMark, PhaseName } from '../phases.js';

const TO_WIRE: Record<PhaseName, Phase> = {
  CR: Phase.PHASE_CR, PT: Phase.PHASE_PT, DA: Phase.PHASE_DA, VMB: Phase.PHASE_VMB, VMR: Phase.PHASE_VMR,
  SR: Phase.PHASE_SR, PUB: Phase.PHASE_PUB, GW: Phase.PHASE_GW,
  DRN: Phase.PHASE_DRN, RC: Phase.PHASE_RC, VMD: Phase.PHASE_VMD, DHR: Phase.PHASE_DHR, DKR: Phase.PHASE_DKR,
};
const FROM_WIRE = new Map<Phase, PhaseName>(Object.entries(TO_WIRE).map(([k, v]) => [v, k as PhaseName]));

/** Domain phase mark → wire PhaseEvent. */
export function phaseMarkToWire(mark: PhaseMark): PhaseEvent {
  return {
    operationId: mark.operationId,
    hostname: mark.hostname,
    phase: TO_WIRE[mark.phase],
    edge: mark.edge === 'start' ? Edge.EDGE_START : Edge.EDGE_END,
    monotonicMs: mark.monotonicMs,
    unixMs: mark.unixMs,
    durationMs: mark.durationMs ?? 0,
    details: mark.details,
  };
}

/** Wire PhaseEvent → domain phase mark. Throws on an unknown phase. */
export function phaseMarkFromWire(event: PhaseEvent): PhaseMark {
  const phase = FROM_WIRE.get(event.phase);
  if (!phase) throw new Error(`unknown phase ${event.phase}`);
  return {
    operationId: event.operationId,
    hostname: event.hostname,
    phase,
    edge: event.edge === Edge.EDGE_END ? 'end' : 'start',
    monotonicMs: event.monotonicMs,
    unixMs: event.unixMs,
    ...(event.edge === Edge.EDGE_END ? { durationMs: event.durationMs } : {}),
    details: event.details,
  };
}
