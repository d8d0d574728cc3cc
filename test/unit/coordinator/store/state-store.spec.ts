import { expect } from 'chai';
import path from 'node:path';
import { StateStore } from '../../../../coordinator/store/state-store.js';
import type { NodeRecord, OperationRecord } from '../../../../coordinator/store/records.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const node = (hostname: string, i: number): NodeRecord => ({ hostname, ip: `10.0.0.${i}`, mac: `52:54:00:00:00:${String(i).padStart(2, '0')}`, vo: 'bio', host: '', state: 'deploying', operationId: `op-${i}`, sinceMs: 1, error: '' });
const op = (id: string, nodeName: string): Omit<OperationRecord, 'seq'> => ({
  id, kind: 'deploy', state: 'queued', vo: 'bio', node: nodeName, host: '', pinnedHost: '', attempt: 0, excludedHosts: [], error: '', trigger: 'manual', createdMs: 1, finishedMs: 0,
});

// The store keeps leased nodes and open operations in memory as well as in
// SQLite: the two must agree after every write, a rollback, and a reopen.
describe('coordinator/store/StateStore (memory + SQLite)', () => {
  let file: string;
  beforeEach(async () => {
    file = path.join(await tempDir('vonode-store-'), 'state.db');
  });

  it('serves open operations from memory in arrival order, and finished ones from SQLite', () => {
    const store = new StateStore(file);
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
    expect(store.operationsIn(['succeeded']).map((o) => o.id)).to.deep.equal(['op-1']);
    expect(store.countOpen('queued')).to.equal(1);
    expect(store.operation('op-1')?.state).to.equal('succeeded');
    expect(store.nodes().map((n) => n.hostname)).to.deep.equal(['vwn-001', 'vwn-002', 'vwn-003']);
    store.close();
    const again = new StateStore(file);
    expect(again.operationsIn(['queued', 'running']).map((o) => [o.id, o.state, o.seq])).to.deep.equal([['op-2', 'running', 2], ['op-3', 'queued', 3]]);
    expect(again.insertOperation(op('op-4', 'vwn-003')).seq, 'seq continues after a reopen').to.equal(4);
    expect(again.nodes()).to.have.length(3);
    again.close();
  });

  it('a failed transaction takes back its in-memory changes with its SQL ones', () => {
    const store = new StateStore(file);
    store.insertNode(node('vwn-001', 1));
    store.insertOperation(op('op-1', 'vwn-001'));
    expect(() => store.transaction(() => {
      store.updateNode('vwn-001', { state: 'running' });
      store.updateOperation('op-1', { state: 'running' });
      store.insertNode(node('vwn-002', 2));
      store.insertOperation(op('op-2', 'vwn-002'));
      store.deleteNode('vwn-001');
      store.insertNode(node('vwn-003', 2)); // same IP and MAC as vwn-002: UNIQUE fails, everything rolls back
    })).to.throw(/UNIQUE/);
    expect(store.nodes().map((n) => [n.hostname, n.state])).to.deep.equal([['vwn-001', 'deploying']]);
    expect(store.operationsIn(['queued', 'running']).map((o) => [o.id, o.state])).to.deep.equal([['op-1', 'queued']]);
    expect(store.insertOperation(op('op-5', 'vwn-001')).seq, 'the rolled-back seq is reused').to.equal(2);
    store.close();
    const again = new StateStore(file);
    expect(again.nodes().map((n) => [n.hostname, n.state])).to.deep.equal([['vwn-001', 'deploying']]);
    again.close();
  });

  it('hands out frozen records: a change goes through the store or nowhere', () => {
    const store = new StateStore(file);
    store.insertNode(node('vwn-001', 1));
    const rec = store.insertOperation(op('op-1', 'vwn-001'));
    expect(() => ((rec as { state: string }).state = 'running')).to.throw(TypeError);
    expect(() => (store.node('vwn-001') as { state: string }).state = 'running').to.throw(TypeError);
    expect(() => (store.operation('op-1')!.excludedHosts as string[]).push('phys-01')).to.throw(TypeError);
    store.close();
  });
});
