import { Phase, phaseToJSON } from '../../../shared/gen/vonode/v1/common.js';
import { DEPLOY_PHASES, REMOVE_PHASES } from '../../../shared/phases.js';

/**
 * Short name of a wire phase (`PHASE_VMB` → `VMB`). Unlike the agent's codec
 * this never throws: a phase added to the proto after this CLI was built still
 * prints (as its enum name, or `phase-N`), so an older CLI keeps working.
 */
export function phaseName(phase: Phase): string {
  const json = phaseToJSON(phase);
  if (json === 'UNRECOGNIZED') return `phase-${phase as number}`;
  return json.startsWith('PHASE_') ? json.slice('PHASE_'.length) : json;
}

/** Sort key of a phase name: deployment order, then removal order, then unknown names last. */
export function phaseOrder(name: string): number {
  const all: readonly string[] = [...DEPLOY_PHASES, ...REMOVE_PHASES];
  const i = all.indexOf(name);
  return i === -1 ? all.length : i;
}

/** Whether the wire phase is a real one (not PHASE_UNSPECIFIED). */
export function isKnownPhase(phase: Phase): boolean {
  return phase !== Phase.PHASE_UNSPECIFIED;
}
