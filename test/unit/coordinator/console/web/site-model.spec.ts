import { expect } from 'chai';
import type { CoordinatorEventJson } from '../../../../../coordinator/console/web/model/api-types.js';
import { EventRing } from '../../../../../coordinator/console/web/model/event-ring.js';
import { SiteModel } from '../../../../../coordinator/console/web/model/site-model.js';
import { Edge, Phase } from '../../../../../shared/gen/vonode/v1/common.js';
import {
  CoordinatorEvent,
  HostState,
  NodeState,
  OperationKind,
  OperationState,
  type Host,
  type Node,
  type Operation,
} from '../../../../../shared/gen/vonode/v1/coordinator.js';

// Events are built with the generated toJSON: exactly the JSON the console's /api/events sends.
const json = (e: CoordinatorEvent): CoordinatorEventJson => JSON.parse(JSON.stringify(CoordinatorEvent.toJSON(e))) as CoordinatorEventJson;

function node(hostname: string, state: NodeState, operationId: string, extra: Partial<Node> = {}): CoordinatorEventJson {
  const value: Node = { hostname, ip: '10.0.0.5', mac: '52:54:00:00:00:05', vo: 'bio', host: 'phys01', state, operationId, sinceUnixMs: 1000, error: '', ...extra };
  return json({ unixMs: 1000, event: { $case: 'node', value } });
}

function operation(id: string, kind: OperationKind, state: OperationState, nodeName: string, extra: Partial<Operation> = {}): CoordinatorEventJson {
  const value: Operation = { id, kind, state, vo: 'bio', node: nodeName, host: 'phys01', attempt: 1, error: '', createdUnixMs: 1000, finishedUnixMs: 0, trigger: 'policy', ...extra };
  return json({ unixMs: 1000, event: { $case: 'operation', value } });
}

function host(name: string, state: HostState, extra: Partial<Host> = {}): CoordinatorEventJson {
  const value: Host = { name, address: `${name}:7000`, state, facts: undefined, lastSeenUnixMs: 5000, nodes: 0, activeOperation: '', ...extra };
  return json({ unixMs: 1000, event: { $case: 'host', value } });
}

function phaseEnd(operationId: string, phase: Phase, durationMs: number): CoordinatorEventJson {
  return json({ unixMs: 2000, event: { $case: 'phase', value: { operationId, hostname: 'vo-bio-01', phase, edge: Edge.EDGE_END, monotonicMs: 1, unixMs: 2000, durationMs, details: {} } } });
}

const { DEPLOY, DRAIN, REMOVE } = { DEPLOY: OperationKind.OPERATION_KIND_DEPLOY, DRAIN: OperationKind.OPERATION_KIND_DRAIN, REMOVE: OperationKind.OPERATION_KIND_REMOVE };
const S = OperationState;

describe('coordinator/console/web/model/site-model', () => {
  it('reads the wire JSON as the generated toJSON writes it (enum names, camelCase)', () => {
    const e = node('vo-bio-01', NodeState.NODE_STATE_RUNNING, 'op-1');
    expect(e.node).to.include({ hostname: 'vo-bio-01', state: 'NODE_STATE_RUNNING', operationId: 'op-1', sinceUnixMs: 1000 });
  });

  it('follows a node from created through updated to gone when its drain succeeds', () => {
    const m = new SiteModel();
    m.apply(node('vo-bio-01', NodeState.NODE_STATE_DEPLOYING, 'dep-1', { host: '' }));
    expect(m.nodes.get('vo-bio-01')?.state).to.equal('NODE_STATE_DEPLOYING');
    expect(m.nodes.get('vo-bio-01')?.host).to.equal(undefined, 'an empty host is left out of the JSON');

    m.apply(node('vo-bio-01', NodeState.NODE_STATE_RUNNING, 'dep-1'));
    expect(m.nodes.get('vo-bio-01')).to.include({ state: 'NODE_STATE_RUNNING', host: 'phys01' });

    m.apply(operation('drn-1', DRAIN, S.OPERATION_STATE_QUEUED, 'vo-bio-01'));
    m.apply(node('vo-bio-01', NodeState.NODE_STATE_DRAINING, 'drn-1'));
    m.apply(operation('drn-1', DRAIN, S.OPERATION_STATE_RUNNING, 'vo-bio-01'));
    expect(m.nodes.has('vo-bio-01')).to.equal(true, 'still there while draining');

    m.apply(operation('drn-1', DRAIN, S.OPERATION_STATE_SUCCEEDED, 'vo-bio-01'));
    expect(m.nodes.has('vo-bio-01')).to.equal(false);
    expect(m.operations.get('drn-1')?.operation.state).to.equal('OPERATION_STATE_SUCCEEDED');
  });

  it('drops a node whose removal succeeded or whose deployment failed for good, keeps a failed removal and a retried deployment', () => {
    const m = new SiteModel();
    m.apply(node('a', NodeState.NODE_STATE_REMOVING, 'rm-a'));
    m.apply(node('b', NodeState.NODE_STATE_DEPLOYING, 'dep-b'));
    m.apply(node('c', NodeState.NODE_STATE_DEPLOYING, 'dep-c'));
    m.apply(node('d', NodeState.NODE_STATE_RUNNING, 'dep-d'));
    m.apply(node('e', NodeState.NODE_STATE_REMOVING, 'rm-e'));

    m.apply(operation('rm-a', REMOVE, S.OPERATION_STATE_SUCCEEDED, 'a'));
    m.apply(operation('dep-b', DEPLOY, S.OPERATION_STATE_FAILED, 'b', { error: 'no host' }));
    m.apply(operation('dep-c', DEPLOY, S.OPERATION_STATE_RETRYING, 'c'));
    m.apply(operation('dep-d', DEPLOY, S.OPERATION_STATE_SUCCEEDED, 'd'));
    m.apply(operation('rm-e', REMOVE, S.OPERATION_STATE_FAILED, 'e'));

    expect([...m.nodes.keys()].sort()).to.deep.equal(['c', 'd', 'e']);
  });

  it('keeps a node leased again when an older operation of the same hostname ends', () => {
    const m = new SiteModel();
    // The triple was freed and leased to a new deployment; an old removal's event (replicated late) must not drop it.
    m.apply(node('vo-bio-01', NodeState.NODE_STATE_DEPLOYING, 'dep-new'));
    m.apply(operation('rm-old', REMOVE, S.OPERATION_STATE_SUCCEEDED, 'vo-bio-01'));
    expect(m.nodes.get('vo-bio-01')?.operationId).to.equal('dep-new');
  });

  it('merges host events over the snapshot: state and facts change, node count and slot holder stay', () => {
    const m = new SiteModel();
    const mark = m.beginSnapshot();
    m.replaceHosts([{ name: 'phys01', state: 'HOST_STATE_UP', nodes: 3, activeOperation: 'dep-9', facts: { cpus: 8 } }], mark);
    m.endSnapshot();
    const before = m.versions.hosts;

    m.apply(host('phys01', HostState.HOST_STATE_DOWN, { facts: { hostname: 'phys01', cpus: 16, memoryTotalBytes: 1024, memoryAvailableBytes: 0, memoryCommittedBytes: 0, diskTotalBytes: 0, diskFreeBytes: 0, hypervisor: 'kvm', cachedImages: ['ab'.repeat(32)], runningDomains: 0, agentVersion: '', peerUrl: '', holdings: [], uploadPeers: 0, linkMbit: 0 } }));
    const h = m.hosts.get('phys01')!;
    expect(h.state).to.equal('HOST_STATE_DOWN');
    expect(h.facts?.cpus).to.equal(16);
    expect(h.facts?.cachedImages).to.deep.equal(['ab'.repeat(32)]);
    expect(h.nodes).to.equal(3);
    expect(h.activeOperation).to.equal('dep-9');
    expect(m.versions.hosts).to.be.greaterThan(before);

    m.apply(host('phys02', HostState.HOST_STATE_UP));
    expect(m.hosts.get('phys02')?.state).to.equal('HOST_STATE_UP');
  });

  it('keeps only the last 500 events, newest first', () => {
    const m = new SiteModel();
    for (let i = 0; i < 1200; i++) m.apply(node(`n${i}`, NodeState.NODE_STATE_RUNNING, `op${i}`));
    expect(m.events.size).to.equal(500);
    const list = m.events.newestFirst();
    expect(list).to.have.length(500);
    expect(list[0]!.event.node?.hostname).to.equal('n1199');
    expect(list[499]!.event.node?.hostname).to.equal('n700');
    expect(list[0]!.seq - list[499]!.seq).to.equal(499);
    expect(m.nodes.size).to.equal(1200, 'the node table itself is not bounded by the ring');
  });

  it('records phase durations on known operations (a retried phase keeps its last) and ignores unknown ones', () => {
    const m = new SiteModel();
    m.apply(operation('dep-1', DEPLOY, S.OPERATION_STATE_RUNNING, 'vo-bio-01'));
    m.apply(phaseEnd('dep-1', Phase.PHASE_PT, 96_800));
    m.apply(phaseEnd('dep-1', Phase.PHASE_PT, 12_000));
    m.apply(phaseEnd('dep-1', Phase.PHASE_VMB, 3000));
    m.apply(phaseEnd('unknown', Phase.PHASE_PT, 1));
    expect([...m.operations.get('dep-1')!.durations]).to.deep.equal([['PT', 12_000], ['VMB', 3000]]);
    expect(m.operations.has('unknown')).to.equal(false);
  });

  it('bounds the recent operations, evicting the oldest first', () => {
    const m = new SiteModel({ operationCapacity: 3 });
    const mark = m.beginSnapshot();
    m.replaceOperations(
      [3, 1, 2].map((t) => ({ operation: { id: `op${t}`, createdUnixMs: t * 1000, kind: 'OPERATION_KIND_DEPLOY' }, phases: [{ phase: 'PHASE_CR', durationMs: t }], totalMs: t })),
      mark,
    );
    m.endSnapshot();
    expect([...m.operations.keys()]).to.deep.equal(['op1', 'op2', 'op3'], 'oldest first whatever the answer order');
    expect(m.operations.get('op2')?.durations.get('CR')).to.equal(2);
    m.apply(operation('op4', DEPLOY, S.OPERATION_STATE_QUEUED, 'x', { createdUnixMs: 4000 }));
    expect([...m.operations.keys()]).to.deep.equal(['op2', 'op3', 'op4']);
  });

  it('applies again over a snapshot the events that arrived while it was loading', () => {
    const m = new SiteModel();
    m.apply(node('early', NodeState.NODE_STATE_RUNNING, 'dep-e')); // before the request: the snapshot has it or not, its choice
    const mark = m.beginSnapshot();
    m.apply(node('vo-bio-01', NodeState.NODE_STATE_RUNNING, 'dep-1'));
    m.apply(node('vo-bio-02', NodeState.NODE_STATE_DRAINING, 'drn-2'));
    m.apply(operation('drn-2', DRAIN, S.OPERATION_STATE_SUCCEEDED, 'vo-bio-02'));
    // The snapshot was taken before those events: vo-bio-01 deploying, vo-bio-02 running.
    m.replaceNodes(
      [
        { hostname: 'vo-bio-01', state: 'NODE_STATE_DEPLOYING', operationId: 'dep-1' },
        { hostname: 'vo-bio-02', state: 'NODE_STATE_RUNNING', operationId: 'drn-2' },
        { hostname: 'vo-bio-03', state: 'NODE_STATE_RUNNING', operationId: 'dep-3' },
      ],
      mark,
    );
    m.endSnapshot();
    expect(m.nodes.get('vo-bio-01')?.state).to.equal('NODE_STATE_RUNNING');
    expect(m.nodes.has('vo-bio-02')).to.equal(false);
    expect(m.nodes.has('vo-bio-03')).to.equal(true);
    expect(m.nodes.has('early')).to.equal(false, 'a snapshot replaces what was there');

    // With no snapshot loading, nothing is journaled: a later replace applies nothing again.
    m.apply(node('late', NodeState.NODE_STATE_RUNNING, 'dep-l'));
    const mark2 = m.beginSnapshot();
    m.replaceNodes([], mark2);
    m.endSnapshot();
    expect(m.nodes.size).to.equal(0);
  });

  it('tells operation watchers about their operation only', () => {
    const m = new SiteModel();
    const seen: string[] = [];
    const stop = m.watchOperation('dep-1', () => seen.push('dep-1'));
    m.apply(operation('dep-1', DEPLOY, S.OPERATION_STATE_RUNNING, 'a'));
    m.apply(phaseEnd('dep-1', Phase.PHASE_CR, 20));
    m.apply(operation('dep-2', DEPLOY, S.OPERATION_STATE_RUNNING, 'b'));
    stop();
    m.apply(phaseEnd('dep-1', Phase.PHASE_PT, 20));
    expect(seen).to.deep.equal(['dep-1', 'dep-1']);
  });

  it('updates the status policy from policy events', () => {
    const m = new SiteModel();
    m.setStatus({ site: 's', policy: { file: 'p.yaml', sha256: 'aa' } });
    m.apply(json({ unixMs: 1, event: { $case: 'policy', value: { file: 'p.yaml', sha256: 'aa', loadedUnixMs: 1, rejectedError: 'bad weight' } } }));
    expect(m.policy?.rejectedError).to.equal('bad weight');
    expect(m.status?.site).to.equal('s');
  });
});

describe('coordinator/console/web/model/event-ring', () => {
  it('overwrites the oldest entry once full', () => {
    const r = new EventRing<number>(3);
    expect(r.newestFirst()).to.deep.equal([]);
    for (const v of [1, 2, 3, 4, 5]) r.push(v);
    expect(r.size).to.equal(3);
    expect(r.newestFirst()).to.deep.equal([5, 4, 3]);
    r.clear();
    expect(r.size).to.equal(0);
    r.push(9);
    expect(r.newestFirst()).to.deep.equal([9]);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new EventRing(0)).to.throw(RangeError);
  });
});
