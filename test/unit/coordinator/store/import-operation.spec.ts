import { expect } from 'chai';
import type { OperationRecord } from '../../../../coordinator/store/records.js';
import { openSqliteStore } from '../../../../coordinator/store/sqlite/sqlite-backend.js';

const record = (id: string, seq: number, state: OperationRecord['state']): OperationRecord => ({
  id, seq, kind: 'deploy', state, vo: 'bio', node: `vwn-${seq}`, host: 'h1', pinnedHost: '', attempt: 2, excludedHosts: ['h3'], error: '', trigger: 'policy', createdMs: 10 * seq, finishedMs: state === 'succeeded' ? 11 * seq : 0,
});

// StateStore.importOperation (migrate-store): records written as they are, in seq order.
describe('coordinator/store StateStore.importOperation', () => {
  it('writes each record as it is, open ones in arrival order; seq continues from the highest imported', async () => {
    const store = openSqliteStore(':memory:');
    store.importOperation(record('op-a', 3, 'succeeded'));
    store.importOperation(record('op-b', 7, 'running'));
    store.importOperation(record('op-c', 9, 'queued'));
    expect([...store.openOperations()].map((o) => [o.id, o.seq])).to.deep.equal([['op-b', 7], ['op-c', 9]]);
    expect(await store.findOperation('op-a')).to.deep.equal(record('op-a', 3, 'succeeded'));
    expect(store.operation('op-b')).to.deep.equal(record('op-b', 7, 'running'));
    const next = store.insertOperation({ ...record('op-d', 0, 'queued') });
    expect(next.seq).to.equal(10);
    await store.close();
  });

  it('refuses a seq not above the last one, or a known id, and a failed transaction takes the last seq back', async () => {
    const store = openSqliteStore(':memory:');
    store.importOperation(record('op-a', 5, 'queued'));
    expect(() => store.importOperation(record('op-b', 5, 'queued'))).to.throw(RangeError, /seq 5 is not above the last seq 5/);
    expect(() => store.importOperation(record('op-a', 6, 'queued'))).to.throw(/UNIQUE operation id violated: op-a exists/);
    expect(() =>
      store.transaction(() => {
        store.importOperation(record('op-c', 8, 'queued'));
        throw new Error('boom');
      }),
    ).to.throw('boom');
    expect(store.operation('op-c')).to.equal(undefined);
    expect(store.insertOperation(record('op-d', 0, 'queued')).seq, 'the undone import left the last seq at 5').to.equal(6);
    expect((await store.recentOperations(0)).map((o) => o.id)).to.deep.equal(['op-a', 'op-d']);
    await store.close();
  });
});
