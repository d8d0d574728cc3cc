import type { OperationRecord } from '../store/records.js';
import type { PhaseTimeouts } from './attempt-runner.js';
import type { HostSlots } from './host-slots.js';
import type { VoAppliance } from './vo-catalog.js';

/** Settings of the deployment queue (from the coordinator config). */
export interface QueueSettings {
  maxConcurrentTransfers: number;
  maxAttempts: number;
  phaseTimeouts: PhaseTimeouts;
  shutdownTimeoutMs: number;
}

/** What the queue asks of the runner: start attempts it dispatched, or fail an operation for good. */
export interface AttemptStarter {
  startDeploy(op: OperationRecord, host: string, app: VoAppliance): void;
  startRemoval(op: OperationRecord, host: string): void;
  giveUp(op: OperationRecord, reason: string): void;
}

/** What the runner tells the queue while an attempt runs. */
export interface QueueControl {
  readonly slots: HostSlots;
  publish(op: OperationRecord): void;
  pump(): void;
  releaseHost(opId: string): void;
  releaseTransfer(opId: string, completed?: boolean): void;
  finished(opId: string): void;
  isLive(opId: string): boolean;
  submitOrphanRemoval(hostname: string, vo: string, host: string): OperationRecord;
  /** A deployment attempt failed on `host` for a host-side cause: placement prefers other idle hosts for a while. */
  hostFailed(host: string): void;
}
