import { Edge } from '../../../shared/gen/vonode/v1/common.js';
import {
  OperationKind,
  OperationState,
  type CoordinatorEvent,
  type Operation,
} from '../../../shared/gen/vonode/v1/coordinator.js';
import { isKnownPhase, phaseName } from './phase-names.js';

/** Where an operation stands, as the CLI prints it. */
export type OpStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed';

/** Everything the CLI knows about one operation of a stream. */
export interface TrackedOperation {
  id: string;
  /** `deploy`, `drain` or `remove` (`deploy` until an Operation event says otherwise). */
  kind: string;
  node: string;
  host: string;
  vo: string;
  attempt: number;
  status: OpStatus;
  error: string;
  /** The phase started last (running, or the one it failed in when `phaseRunning`). */
  phase?: string;
  phaseRunning: boolean;
  /** Phases ended in the current attempt, in order. */
  phasesDone: string[];
  createdUnixMs: number;
  finishedUnixMs: number;
}

/** One visible change the display may print or draw. */
export type TrackerChange =
  | { type: 'state'; op: TrackedOperation }
  | { type: 'phase-start'; op: TrackedOperation; phase: string }
  | { type: 'phase-end'; op: TrackedOperation; phase: string; durationMs: number; details: Record<string, string> };

const STATUS: Partial<Record<OperationState, OpStatus>> = {
  [OperationState.OPERATION_STATE_QUEUED]: 'queued',
  [OperationState.OPERATION_STATE_RUNNING]: 'running',
  [OperationState.OPERATION_STATE_RETRYING]: 'retrying',
  [OperationState.OPERATION_STATE_SUCCEEDED]: 'succeeded',
  [OperationState.OPERATION_STATE_FAILED]: 'failed',
};

const KIND: Partial<Record<OperationKind, string>> = {
  [OperationKind.OPERATION_KIND_DEPLOY]: 'deploy',
  [OperationKind.OPERATION_KIND_DRAIN]: 'drain',
  [OperationKind.OPERATION_KIND_REMOVE]: 'remove',
};

/** A copy, so a change keeps showing the state it was made in after later events. */
function snapshot(op: TrackedOperation): TrackedOperation {
  return { ...op, phasesDone: [...op.phasesDone] };
}

/** Whether an operation has ended (it will get no more events). */
export function isFinished(op: Pick<TrackedOperation, 'status'>): boolean {
  return op.status === 'succeeded' || op.status === 'failed';
}

/**
 * Folds the events of a DeployNodes/DrainNode/RemoveNode stream into one
 * record per operation and reports what changed. Pure: no I/O, no clock.
 * Host, policy and node events do not belong to an operation and are ignored.
 */
export class OperationTracker {
  private readonly ops = new Map<string, TrackedOperation>();
  // Operations whose state was reported at least once: the first Operation event always prints.
  private readonly announced = new Set<string>();

  /** Applies one event; returns the visible changes (none for repeats). */
  apply(event: CoordinatorEvent): TrackerChange[] {
    const e = event.event;
    if (e?.$case === 'operation') return this.applyOperation(e.value);
    if (e?.$case !== 'phase' || !isKnownPhase(e.value.phase)) return [];
    const p = e.value;
    const op = this.get(p.operationId, p.hostname);
    const phase = phaseName(p.phase);
    if (p.edge === Edge.EDGE_END) {
      if (op.phasesDone.includes(phase)) return [];
      op.phasesDone.push(phase);
      op.phase = phase;
      op.phaseRunning = false;
      return [{ type: 'phase-end', op: snapshot(op), phase, durationMs: p.durationMs, details: { ...p.details } }];
    }
    op.phase = phase;
    op.phaseRunning = true;
    return [{ type: 'phase-start', op: snapshot(op), phase }];
  }

  /** Operations in the order they were first seen. */
  operations(): TrackedOperation[] {
    return [...this.ops.values()];
  }

  private applyOperation(o: Operation): TrackerChange[] {
    const op = this.get(o.id, o.node);
    const status = STATUS[o.state];
    const before = `${op.status}|${op.host}|${op.attempt}|${op.error}`;
    op.kind = KIND[o.kind] ?? op.kind;
    op.node = o.node || op.node;
    op.host = o.host || op.host;
    op.vo = o.vo || op.vo;
    op.error = o.error;
    op.createdUnixMs = o.createdUnixMs || op.createdUnixMs;
    op.finishedUnixMs = o.finishedUnixMs || op.finishedUnixMs;
    if (o.attempt > op.attempt) {
      // A new attempt starts over on another host: its phases are new.
      op.phasesDone = [];
      op.phase = undefined;
      op.phaseRunning = false;
    }
    op.attempt = Math.max(op.attempt, o.attempt);
    if (status) op.status = status;
    const unchanged = before === `${op.status}|${op.host}|${op.attempt}|${op.error}` && this.announced.has(op.id);
    this.announced.add(op.id);
    return unchanged ? [] : [{ type: 'state', op: snapshot(op) }];
  }

  private get(id: string, node: string): TrackedOperation {
    let op = this.ops.get(id);
    if (!op) {
      op = {
        id,
        kind: 'deploy',
        node,
        host: '',
        vo: '',
        attempt: 0,
        status: 'queued',
        error: '',
        phaseRunning: false,
        phasesDone: [],
        createdUnixMs: 0,
        finishedUnixMs: 0,
      };
      this.ops.set(id, op);
    }
    return op;
  }
}
