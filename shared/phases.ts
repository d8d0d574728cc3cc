/** Deployment phases in pipeline order (the paper's Table 2 columns). */
export const DEPLOY_PHASES = ['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW'] as const;
/**
 * Removal phases (the paper's Table 3, split finer): DRN is the coordinator's
 * batch-system drain (disable, wait for the last job, deregister); the agent
 * runs RC to DKR.
 */
export const REMOVE_PHASES = ['DRN', 'RC', 'VMD', 'DHR', 'DKR'] as const;

export type DeployPhase = (typeof DEPLOY_PHASES)[number];
export type RemovePhase = (typeof REMOVE_PHASES)[number];
export type PhaseName = DeployPhase | RemovePhase;

/** The phases the agent itself runs for one deployment. */
export const AGENT_DEPLOY_PHASES: readonly DeployPhase[] = ['CR', 'PT', 'DA', 'VMB', 'VMR'];

/** One boundary of a phase, stamped on the host where it happened. */
export interface PhaseMark {
  operationId: string;
  hostname: string;
  phase: PhaseName;
  edge: 'start' | 'end';
  monotonicMs: number;
  unixMs: number;
  /** Only on 'end': the phase's duration. */
  durationMs?: number;
  details: Record<string, string>;
}
