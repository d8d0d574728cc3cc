import { expect } from 'chai';
import { HookEventMapper } from '../../../../coordinator/hooks/hook-event-mapper.js';
import type { HookEvent } from '../../../../coordinator/hooks/hook-event.js';
import {
  HostState,
  NodeState,
  OperationKind,
  OperationState,
  type CoordinatorEvent,
  type Node,
  type Operation,
} from '../../../../shared/gen/vonode/v1/coordinator.js';

const START = 1_000_000;
const POOL = new Map([['vwn-001', { ip: '10.1.0.11', mac: '52:54:00:01:00:11' }]]);

function op(id: string, kind: OperationKind, state: OperationState, extra: Partial<Operation> = {}): CoordinatorEvent {
  const ended = state === OperationState.OPERATION_STATE_SUCCEEDED || state === OperationState.OPERATION_STATE_FAILED;
  return {
    unixMs: START + 10,
    event: {
      $case: 'operation',
      value: { id, kind, state, vo: 'bio', node: 'vwn-001', host: 'phys-a', attempt: 1, error: '', createdUnixMs: START, finishedUnixMs: ended ? START + 5 : 0, trigger: 'manual', ...extra },
    },
  };
}
function node(state: NodeState, operationId: string): CoordinatorEvent {
  const value: Node = { hostname: 'vwn-001', ip: '10.1.0.11', mac: '52:54:00:01:00:11', vo: 'bio', host: 'phys-a', state, operationId, sinceUnixMs: START, error: '' };
  return { unixMs: START + 10, event: { $case: 'node', value } };
}
function host(state: HostState, name = 'phys-a'): CoordinatorEvent {
  return { unixMs: START + 10, event: { $case: 'host', value: { name, address: '127.0.0.1:7081', state, facts: undefined, lastSeenUnixMs: START, nodes: 0, activeOperation: '' } } };
}

const { OPERATION_KIND_DEPLOY: DEPLOY, OPERATION_KIND_DRAIN: DRAIN, OPERATION_KIND_REMOVE: REMOVE } = OperationKind;
const { OPERATION_STATE_QUEUED: QUEUED, OPERATION_STATE_RUNNING: RUNNING, OPERATION_STATE_SUCCEEDED: SUCCEEDED, OPERATION_STATE_FAILED: FAILED, OPERATION_STATE_RETRYING: RETRYING } = OperationState;
const { NODE_STATE_DEPLOYING: N_DEPLOYING, NODE_STATE_RUNNING: N_RUNNING, NODE_STATE_DRAINING: N_DRAINING, NODE_STATE_REMOVING: N_REMOVING } = NodeState;

/** The hook event names a sequence of site events gives, in order. */
function names(events: CoordinatorEvent[]): string[] {
  const mapper = new HookEventMapper({ site: 's', poolEntry: (h) => POOL.get(h), sinceUnixMs: START });
  return events.flatMap((e) => mapper.map(e)).map((h) => h.event);
}

describe('coordinator/hooks/HookEventMapper', () => {
  // Sequences as the operation queue and runner publish them (each operation event followed by its node's).
  const cases: Array<[string, CoordinatorEvent[], string[]]> = [
    ['a deployment that succeeds at the second attempt', [
      op('d1', DEPLOY, QUEUED), node(N_DEPLOYING, 'd1'),
      op('d1', DEPLOY, RUNNING), node(N_DEPLOYING, 'd1'),
      op('d1', DEPLOY, RETRYING), node(N_DEPLOYING, 'd1'), op('d1', DEPLOY, QUEUED), node(N_DEPLOYING, 'd1'),
      op('d1', DEPLOY, RUNNING, { attempt: 2 }), node(N_DEPLOYING, 'd1'),
      op('d1', DEPLOY, RUNNING, { attempt: 2 }), node(N_RUNNING, 'd1'),
      op('d1', DEPLOY, SUCCEEDED, { attempt: 2 }), node(N_RUNNING, 'd1'),
    ], ['node_running', 'node_deployed']],
    ['a deployment given up', [op('d1', DEPLOY, QUEUED), op('d1', DEPLOY, RUNNING), op('d1', DEPLOY, RETRYING), op('d1', DEPLOY, FAILED)], ['deployment_failed']],
    ['a drain of a running node, retried once', [
      op('r1', DRAIN, QUEUED), node(N_RUNNING, 'r1'),
      op('r1', DRAIN, RUNNING), node(N_DRAINING, 'r1'),
      op('r1', DRAIN, QUEUED, { error: 'will retry' }), node(N_DRAINING, 'r1'),
      op('r1', DRAIN, RUNNING, { attempt: 2 }), node(N_REMOVING, 'r1'),
      op('r1', DRAIN, SUCCEEDED, { attempt: 2 }),
    ], ['drain_started', 'node_removed']],
    ['a forced removal', [op('r2', REMOVE, QUEUED), op('r2', REMOVE, RUNNING), node(N_REMOVING, 'r2'), op('r2', REMOVE, SUCCEEDED)], ['node_removed']],
    ['the removal of a leftover domain (recovery)', [op('r3', REMOVE, RUNNING, { trigger: 'recovery' }), op('r3', REMOVE, SUCCEEDED, { trigger: 'recovery' })], []],
    ['a finished operation published again', [op('d1', DEPLOY, SUCCEEDED), node(N_RUNNING, 'd1'), op('d1', DEPLOY, SUCCEEDED), node(N_RUNNING, 'd1')], ['node_deployed', 'node_running']],
    ['an outcome from before this leader (a vanished node after a restart)', [op('d0', DEPLOY, SUCCEEDED, { finishedUnixMs: START - 1 })], []],
    ['a running node whose operation is unknown (before this leader)', [node(N_RUNNING, 'old')], []],
    ['a host going down, heartbeating again, going down again', [host(HostState.HOST_STATE_UP), host(HostState.HOST_STATE_DOWN), host(HostState.HOST_STATE_DOWN), host(HostState.HOST_STATE_UP), host(HostState.HOST_STATE_DOWN)], ['agent_down', 'agent_down']],
    ['policy and phase events', [{ unixMs: START, event: undefined }], []],
  ];
  for (const [what, events, expected] of cases) {
    it(`maps ${what} to ${expected.join(', ') || 'nothing'}`, () => {
      expect(names(events)).to.deep.equal(expected);
    });
  }

  it('fills node_deployed from the operation and the pool triple', () => {
    const mapper = new HookEventMapper({ site: 'site-a', poolEntry: (h) => POOL.get(h), sinceUnixMs: START });
    const [e] = mapper.map(op('d1', DEPLOY, SUCCEEDED, { attempt: 2, trigger: 'policy' }));
    expect(e).to.deep.equal({
      version: 1, event: 'node_deployed', time: new Date(START + 10).toISOString(), unixMs: START + 10, site: 'site-a',
      node: { hostname: 'vwn-001', ip: '10.1.0.11', mac: '52:54:00:01:00:11', vo: 'bio', host: 'phys-a' },
      operation: { id: 'd1', kind: 'deploy', state: 'succeeded', attempt: 2, error: '', trigger: 'policy', createdUnixMs: START, finishedUnixMs: START + 5 },
    } satisfies HookEvent);
  });

  it('fills agent_down from the host', () => {
    const mapper = new HookEventMapper({ site: 'site-a', poolEntry: () => undefined, sinceUnixMs: START });
    expect(mapper.map(host(HostState.HOST_STATE_DOWN, 'phys-b'))[0]).to.deep.include({ event: 'agent_down', host: { name: 'phys-b', address: '127.0.0.1:7081', lastSeenUnixMs: START } });
  });

  it('forgets the oldest operations beyond its memory', () => {
    const mapper = new HookEventMapper({ site: 's', poolEntry: () => undefined, sinceUnixMs: START, memory: 2 });
    for (const id of ['a', 'b', 'c']) mapper.map(op(id, DEPLOY, RUNNING));
    expect(mapper.map(node(N_RUNNING, 'a'))).to.have.length(0);
    expect(mapper.map(node(N_RUNNING, 'c'))).to.have.length(1);
  });
});
