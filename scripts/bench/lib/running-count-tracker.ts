// The coordinator's side of console-scale: a WatchEvents subscriber that
// keeps, from the node and operation events, when the coordinator's count of
// running (and leased) nodes changed, by the event's unixMs stamp (the
// coordinator's clock, the same host clock as the page's Date.now()).
import { systemClock, type Clock } from '../../../shared/clock.js';
import { NodeState, OperationKind, OperationState, type CoordinatorEvent, type Operation } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { EventSubscription } from './event-subscription.js';

/** The coordinator's site as the bench's WatchEvents stream tells it: when (event unixMs) the running and leased counts changed. */
export class RunningCountTracker extends EventSubscription {
  /** [unixMs, running nodes] after each change. */
  readonly running: Array<[number, number]> = [];
  /** [unixMs, leased nodes] after each change. */
  readonly leased: Array<[number, number]> = [];
  events = 0;
  private readonly states = new Map<string, NodeState>();
  private runningNow = 0;
  private lastUnixMs = 0;

  constructor(
    client: CoordinatorClient,
    private readonly log: (line: string) => void,
    private readonly clock: Pick<Clock, 'monotonicMs' | 'sleep'> = systemClock,
  ) {
    super(client);
  }

  /** Running nodes as of the last event received. */
  get runningCount(): number {
    return this.runningNow;
  }

  /** Leased nodes as of the last event received. */
  get leasedCount(): number {
    return this.states.size;
  }

  /** Waits (at most `ms`) until `ready()` holds: the bench's stream may trail the coordinator; says so if it still does. */
  async caughtUp(what: string, ready: () => boolean, ms: number): Promise<void> {
    const end = this.clock.monotonicMs() + ms;
    while (!ready() && this.clock.monotonicMs() < end) await this.clock.sleep(50);
    if (!ready()) this.log(`the bench's WatchEvents stream has not seen ${what} after ${ms / 1000} s: figures from it are partial`);
  }

  /** How long ago (wall clock) the coordinator stamped the last event received: how far this stream trails it. */
  behindMs(): number {
    return this.lastUnixMs ? Date.now() - this.lastUnixMs : 0;
  }

  protected onEvent(e: CoordinatorEvent): void {
    this.events++;
    this.lastUnixMs = e.unixMs;
    if (e.event?.$case === 'node') this.set(e.event.value.hostname, e.event.value.state, e.unixMs);
    // The coordinator sends no node event when a node leaves: the operation that frees it is the signal (as the page reads it).
    if (e.event?.$case === 'operation' && leavesWith(e.event.value)) this.set(e.event.value.node, undefined, e.unixMs);
  }

  private set(hostname: string, state: NodeState | undefined, unixMs: number): void {
    const was = this.states.get(hostname);
    const leased = this.states.size;
    if (state === undefined) this.states.delete(hostname);
    else this.states.set(hostname, state);
    const delta = Number(state === NodeState.NODE_STATE_RUNNING) - Number(was === NodeState.NODE_STATE_RUNNING);
    if (delta) this.running.push([unixMs, (this.runningNow += delta)]);
    if (this.states.size !== leased) this.leased.push([unixMs, this.states.size]);
  }
}

/** Whether the operation's node has left the site in this state (coordinator/console/web/model/wire-names.ts nodeLeavesWith). */
function leavesWith(op: Operation): boolean {
  if (op.state === OperationState.OPERATION_STATE_SUCCEEDED) return op.kind === OperationKind.OPERATION_KIND_REMOVE || op.kind === OperationKind.OPERATION_KIND_DRAIN;
  return op.state === OperationState.OPERATION_STATE_FAILED && op.kind === OperationKind.OPERATION_KIND_DEPLOY;
}
