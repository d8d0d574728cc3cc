import { expect } from 'chai';
import type { NodeRecord, OperationRecord, UsageRecord } from '../../../../coordinator/store/records.js';
import type { StateStore } from '../../../../coordinator/store/state-store.js';

/** Opens stores on one backend's data: `open` the first time, `reopen` after the previous one was closed (same data). */
export interface StoreFactory {
  open(): Promise<StateStore>;
  reopen(): Promise<StateStore>;
}

const node = (hostname: string, i: number): NodeRecord => ({
  hostname, ip: `10.0.0.${i}`, mac: `52:54:00:00:00:${String(i).padStart(2, '0')}`, vo: 'bio', host: '', state: 'deploying', operationId: `op-${i}`, sinceMs: 1, error: '',
});
const op = (id: string, nodeName: string): Omit<OperationRecord, 'seq'> => ({
  id, kind: 'deploy', state: 'queued', vo: 'bio', node: nodeName, host: '', pinnedHost: '', attempt: 0, excludedHosts: [], error: '', trigger: 'manual', createdMs: 1, finishedMs: 0,
});
const usage = (n: number, startMs: number): Omit<UsageRecord, 'endMs' | 'status' | 'endOperationId'> => ({
  id: `op-${n}.1`, vo: n % 2 ? 'bio' : 'phys', node: `vwn-00${n}`, host: 'phys-01', imageUrl: 'http://repo/bio.qcow2', imageSha256: 'ab'.repeat(32),
  applianceId: '', vcpus: 2, memoryMb: 1024, startMs, startOperationId: `op-${n}`,
});

/**
 * The properties every StateStore backend must keep (run against SQLite and
 * etcd): leases whole and unique, arrival order, all-or-nothing transactions,
 * and the same state after a reopen as before it.
 */
export function storeContract(factory: () => StoreFactory): void {
  let f: StoreFactory;
  let open: StateStore[] = [];
  const track = (s: StateStore): StateStore => (open.push(s), s);
  const reopen = async (s: StateStore): Promise<StateStore> => {
    await s.durable();
    await s.close();
    open = open.filter((x) => x !== s);
    return track(await f.reopen());
  };
  beforeEach(() => {
    f = factory();
  });
  afterEach(async () => {
    for (const s of open) await s.close().catch(() => undefined);
    open = [];
  });

  it('serves open operations in arrival order and finished ones after a reopen', async () => {
    const store = track(await f.open());
    store.transaction(() => {
      for (let i = 1; i <= 3; i++) {
        store.insertNode(node(`vwn-00${i}`, i));
        store.insertOperation(op(`op-${i}`, `vwn-00${i}`));
      }
    });
    store.updateOperation('op-2', { state: 'running' });
    store.updateOperation('op-1', { state: 'succeeded', finishedMs: 5 });
    expect(store.operationsIn(['queued']).map((o) => o.id)).to.deep.equal(['op-3']);
    expect(store.operationsIn(['queued', 'running']).map((o) => o.id)).to.deep.equal(['op-2', 'op-3']);
    expect(store.countOpen('queued')).to.equal(1);
    expect(store.operation('op-1')?.state).to.equal('succeeded');
    expect(store.nodes().map((n) => n.hostname)).to.deep.equal(['vwn-001', 'vwn-002', 'vwn-003']);
    const again = await reopen(store);
    expect(again.operationsIn(['queued', 'running']).map((o) => [o.id, o.state, o.seq])).to.deep.equal([['op-2', 'running', 2], ['op-3', 'queued', 3]]);
    expect((await again.findOperation('op-1'))?.state, 'a finished operation is read back from the backend').to.equal('succeeded');
    expect((await again.recentOperations(0)).map((o) => o.id)).to.deep.equal(['op-1', 'op-2', 'op-3']);
    expect((await again.recentOperations(2)).map((o) => o.id)).to.deep.equal(['op-2', 'op-3']);
    expect(again.insertOperation(op('op-4', 'vwn-003')).seq, 'seq continues after a reopen').to.equal(4);
    expect(again.nodes()).to.have.length(3);
  });

  it('leases a triple whole to one node: a second lease of its hostname, IP or MAC is refused and changes nothing', async () => {
    const store = track(await f.open());
    store.insertNode(node('vwn-001', 1));
    expect(() => store.insertNode(node('vwn-001', 9)), 'same hostname').to.throw(/UNIQUE/);
    expect(() => store.insertNode({ ...node('vwn-002', 2), ip: '10.0.0.1' }), 'same IP').to.throw(/UNIQUE/);
    expect(() => store.insertNode({ ...node('vwn-002', 2), mac: '52:54:00:00:00:01' }), 'same MAC').to.throw(/UNIQUE/);
    store.deleteNode('vwn-001');
    store.insertNode({ ...node('vwn-002', 2), ip: '10.0.0.1', mac: '52:54:00:00:00:01' });
    const again = await reopen(store);
    expect(again.nodes().map((n) => [n.hostname, n.ip, n.mac])).to.deep.equal([['vwn-002', '10.0.0.1', '52:54:00:00:00:01']]);
  });

  it('a failed transaction takes back every change it made, in memory and in the backend', async () => {
    const store = track(await f.open());
    store.insertNode(node('vwn-001', 1));
    store.insertOperation(op('op-1', 'vwn-001'));
    expect(() => store.transaction(() => {
      store.updateNode('vwn-001', { state: 'running' });
      store.updateOperation('op-1', { state: 'running' });
      store.insertNode(node('vwn-002', 2));
      store.insertOperation(op('op-2', 'vwn-002'));
      store.deleteNode('vwn-001');
      store.insertNode(node('vwn-003', 2)); // same IP and MAC as vwn-002: refused, everything rolls back
    })).to.throw(/UNIQUE/);
    expect(store.nodes().map((n) => [n.hostname, n.state])).to.deep.equal([['vwn-001', 'deploying']]);
    expect(store.operationsIn(['queued', 'running']).map((o) => [o.id, o.state])).to.deep.equal([['op-1', 'queued']]);
    expect(store.insertOperation(op('op-5', 'vwn-001')).seq, 'the rolled-back seq is reused').to.equal(2);
    const again = await reopen(store);
    expect(again.nodes().map((n) => [n.hostname, n.state])).to.deep.equal([['vwn-001', 'deploying']]);
    expect(again.operationsIn(['queued']).map((o) => o.id)).to.deep.equal(['op-1', 'op-5']);
  });

  it('keeps phases per operation in arrival order', async () => {
    const store = track(await f.open());
    store.insertNode(node('vwn-001', 1));
    store.insertOperation(op('op-1', 'vwn-001'));
    const mark = (phase: 'CR' | 'PT', edge: 'start' | 'end', t: number) => ({
      operationId: 'op-1', attempt: 1, host: 'phys-01', phase, edge, monotonicMs: t, unixMs: 1000 + t, durationMs: edge === 'end' ? 5 : 0, details: { n: String(t) },
    });
    store.insertPhase(mark('CR', 'start', 1));
    store.insertPhase(mark('CR', 'end', 6));
    store.insertPhase(mark('PT', 'start', 7));
    const again = await reopen(store);
    expect((await again.phases('op-1')).map((p) => [p.phase, p.edge, p.details['n']])).to.deep.equal([['CR', 'start', '1'], ['CR', 'end', '6'], ['PT', 'start', '7']]);
    expect(await again.phases('op-none')).to.deep.equal([]);
  });

  it('a deployment batch larger than one backend transaction is written whole', async () => {
    const store = track(await f.open());
    const count = 150;
    store.transaction(() => {
      for (let i = 1; i <= count; i++) {
        store.insertNode({ ...node(`vwn-${i}`, i), ip: `10.0.${i >> 8}.${i & 255}`, mac: `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` });
        store.insertOperation(op(`op-${i}`, `vwn-${i}`));
      }
    });
    const again = await reopen(store);
    expect(again.nodeCount).to.equal(count);
    expect(again.operationsIn(['queued']).map((o) => o.seq)).to.deep.equal(Array.from({ length: count }, (_, i) => i + 1));
  });

  it('keeps usage records: open ones in memory across a reopen, ended ones found by the period they overlap', async () => {
    const store = track(await f.open());
    store.startUsage(usage(1, 1_000));
    store.startUsage(usage(2, 2_000));
    store.startUsage(usage(3, 3_000));
    expect(store.startUsage({ ...usage(1, 9_000), id: 'other' }).id, 'a node keeps its open record').to.equal('op-1.1');
    store.endUsage('vwn-001', { endMs: 5_000, status: 'drained', endOperationId: 'op-9' });
    store.transaction(() => store.endUsage('vwn-002', { endMs: 10_000, status: 'failed', endOperationId: '' }));
    expect(store.endUsage('vwn-001', { endMs: 6_000, status: 'removed', endOperationId: 'op-10' }), 'nothing open: nothing ended').to.equal(undefined);
    const again = await reopen(store);
    expect(again.openUsageRecords().map((u) => [u.id, u.status, u.endMs])).to.deep.equal([['op-3.1', 'running', 0]]);
    expect(again.usage('vwn-003')?.startMs).to.equal(3_000);
    const ids = async (since: number, until: number): Promise<string[]> => (await again.usageRecords(since, until)).map((u) => u.id);
    expect(await ids(0, 100_000)).to.deep.equal(['op-1.1', 'op-2.1', 'op-3.1']);
    expect(await ids(5_000, 100_000), 'ended at the period start: not in it').to.deep.equal(['op-2.1', 'op-3.1']);
    expect(await ids(0, 2_000), 'started at the period end: not in it').to.deep.equal(['op-1.1']);
    expect(await ids(10_001, 20_000)).to.deep.equal(['op-3.1']);
    const ended = (await again.usageRecords(0, 100_000))[0]!;
    expect(ended).to.deep.include({ status: 'drained', startMs: 1_000, endMs: 5_000, endOperationId: 'op-9', vcpus: 2, memoryMb: 1024, imageSha256: 'ab'.repeat(32) });
  });

  it('a failed transaction takes back a usage record it opened or ended', async () => {
    const store = track(await f.open());
    store.startUsage(usage(1, 1_000));
    expect(() => store.transaction(() => {
      store.endUsage('vwn-001', { endMs: 5_000, status: 'removed', endOperationId: 'op-9' });
      store.startUsage(usage(2, 2_000));
      throw new Error('boom');
    })).to.throw('boom');
    expect(store.openUsageRecords().map((u) => u.id)).to.deep.equal(['op-1.1']);
    const again = await reopen(store);
    expect((await again.usageRecords(0, 100_000)).map((u) => [u.id, u.status])).to.deep.equal([['op-1.1', 'running']]);
  });

  it('keeps meta values across a reopen (the last APEL period sent)', async () => {
    const store = track(await f.open());
    expect(await store.readMeta('accounting.apel.sentUntilMs')).to.equal(undefined);
    store.writeMeta('accounting.apel.sentUntilMs', '3600000');
    store.writeMeta('accounting.apel.sentUntilMs', '7200000');
    const again = await reopen(store);
    expect(await again.readMeta('accounting.apel.sentUntilMs')).to.equal('7200000');
  });

  it('hands out frozen records: a change goes through the store or nowhere', async () => {
    const store = track(await f.open());
    store.insertNode(node('vwn-001', 1));
    const rec = store.insertOperation(op('op-1', 'vwn-001'));
    expect(() => ((rec as { state: string }).state = 'running')).to.throw(TypeError);
    expect(() => ((store.node('vwn-001') as { state: string }).state = 'running')).to.throw(TypeError);
    expect(() => (store.operation('op-1')!.excludedHosts as string[]).push('phys-01')).to.throw(TypeError);
  });
}
