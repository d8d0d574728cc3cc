import {
  HostState,
  NodeState,
  OperationKind,
  OperationState,
  type CoordinatorEvent,
  type Node,
  type Operation,
} from '../../shared/gen/vonode/v1/coordinator.js';
import { hookEvent, type HookEvent, type HookEventName, type HookNode, type HookOperation } from './hook-event.js';

/** What the mapper needs besides the events. */
export interface HookEventMapperOptions {
  /** The config's `site`. */
  site: string;
  /** The pool triple of a node hostname (operation events carry only the hostname). */
  poolEntry(hostname: string): { ip: string; mac: string } | undefined;
  /**
   * When this leader started (ms, the coordinator's clock). An operation event saying it ended
   * before then is a republication of an old outcome (e.g. a vanished node's triple freed after a
   * restart), not news: no hook fires for it.
   */
  sinceUnixMs: number;
  /** Operations remembered for de-duplication (default 10,000; the oldest are forgotten first). */
  memory?: number;
}

const KIND: Record<OperationKind, HookOperation['kind'] | undefined> = {
  [OperationKind.OPERATION_KIND_UNSPECIFIED]: undefined,
  [OperationKind.OPERATION_KIND_DEPLOY]: 'deploy',
  [OperationKind.OPERATION_KIND_DRAIN]: 'drain',
  [OperationKind.OPERATION_KIND_REMOVE]: 'remove',
};
const STATE: Record<OperationState, HookOperation['state'] | undefined> = {
  [OperationState.OPERATION_STATE_UNSPECIFIED]: undefined,
  [OperationState.OPERATION_STATE_QUEUED]: 'queued',
  [OperationState.OPERATION_STATE_RUNNING]: 'running',
  [OperationState.OPERATION_STATE_SUCCEEDED]: 'succeeded',
  [OperationState.OPERATION_STATE_FAILED]: 'failed',
  [OperationState.OPERATION_STATE_RETRYING]: 'retrying',
};

/**
 * Turns the coordinator's event stream (coordinator/events/event-bus.ts) into
 * hook events, each at most once per operation (or per host going down):
 *
 * | hook              | site event                                                           |
 * |-------------------|----------------------------------------------------------------------|
 * | node_deployed     | deploy operation → succeeded (after SR, PUB, GW; also a deployment a restart found finished) |
 * | node_running      | node → running while its operation is a deployment (guest up, in its batch queue) |
 * | drain_started     | drain operation → running (first attempt only)                       |
 * | node_removed      | drain or remove operation → succeeded, unless it removed a leftover domain (trigger recovery) |
 * | deployment_failed | deploy operation → failed: given up for good (a retry on another host is not a failure; a queued deployment cancelled by `vonode remove` is, with its error saying so) |
 * | agent_down        | host → down (an agent silent for agents.downAfter)                     |
 *
 * The same operation is published many times (each node event follows its
 * operation's, a finished one again when its node vanishes): the mapper keeps
 * what it fired per operation id. That memory is per leader term: after a
 * restart or failover an operation that was in flight may fire again.
 */
export class HookEventMapper {
  private readonly ops = new Map<string, { op: Operation; fired: Set<HookEventName> }>();
  private readonly hosts = new Map<string, HostState>();
  private readonly memory: number;

  constructor(private readonly options: HookEventMapperOptions) {
    this.memory = options.memory ?? 10_000;
  }

  /** The hook events one site event gives (usually none). Never throws. */
  map(e: CoordinatorEvent): HookEvent[] {
    switch (e.event?.$case) {
      case 'operation':
        return this.onOperation(e.unixMs, e.event.value);
      case 'node':
        return this.onNode(e.unixMs, e.event.value);
      case 'host': {
        const h = e.event.value;
        const previous = this.hosts.get(h.name);
        this.hosts.set(h.name, h.state);
        if (h.state !== HostState.HOST_STATE_DOWN || previous === HostState.HOST_STATE_DOWN) return [];
        return [hookEvent('agent_down', this.options.site, e.unixMs, { host: { name: h.name, address: h.address, lastSeenUnixMs: h.lastSeenUnixMs } })];
      }
      default:
        return [];
    }
  }

  private onOperation(unixMs: number, op: Operation): HookEvent[] {
    const seen = this.remember(op);
    const kind = KIND[op.kind];
    const ended = op.state === OperationState.OPERATION_STATE_SUCCEEDED || op.state === OperationState.OPERATION_STATE_FAILED;
    if (ended && op.finishedUnixMs < this.options.sinceUnixMs) return [];
    let name: HookEventName | undefined;
    if (kind === 'deploy' && op.state === OperationState.OPERATION_STATE_SUCCEEDED) name = 'node_deployed';
    else if (kind === 'deploy' && op.state === OperationState.OPERATION_STATE_FAILED) name = 'deployment_failed';
    else if (kind === 'drain' && op.state === OperationState.OPERATION_STATE_RUNNING) name = 'drain_started';
    else if ((kind === 'drain' || kind === 'remove') && op.state === OperationState.OPERATION_STATE_SUCCEEDED && op.trigger !== 'recovery') name = 'node_removed';
    if (!name || seen.fired.has(name)) return [];
    seen.fired.add(name);
    const pool = this.options.poolEntry(op.node);
    const node: HookNode = { hostname: op.node, ip: pool?.ip ?? '', mac: pool?.mac ?? '', vo: op.vo, host: op.host };
    return [hookEvent(name, this.options.site, unixMs, { node, operation: toHookOperation(op) })];
  }

  private onNode(unixMs: number, n: Node): HookEvent[] {
    if (n.state !== NodeState.NODE_STATE_RUNNING) return [];
    // A running node's record also follows its drain's events: only its deployment makes it "running".
    const seen = this.ops.get(n.operationId);
    if (!seen || seen.op.kind !== OperationKind.OPERATION_KIND_DEPLOY || seen.fired.has('node_running')) return [];
    seen.fired.add('node_running');
    const node: HookNode = { hostname: n.hostname, ip: n.ip, mac: n.mac, vo: n.vo, host: n.host };
    return [hookEvent('node_running', this.options.site, unixMs, { node, operation: toHookOperation(seen.op) })];
  }

  /** Keeps the latest state of an operation; the oldest entries go beyond `memory`. */
  private remember(op: Operation): { op: Operation; fired: Set<HookEventName> } {
    const entry = this.ops.get(op.id) ?? { op, fired: new Set<HookEventName>() };
    entry.op = op;
    this.ops.delete(op.id);
    this.ops.set(op.id, entry);
    if (this.ops.size > this.memory) this.ops.delete(this.ops.keys().next().value!);
    return entry;
  }
}

function toHookOperation(op: Operation): HookOperation {
  return {
    id: op.id, kind: KIND[op.kind] ?? 'deploy', state: STATE[op.state] ?? 'queued', attempt: op.attempt, error: op.error,
    trigger: op.trigger, createdUnixMs: op.createdUnixMs, finishedUnixMs: op.finishedUnixMs,
  };
}
