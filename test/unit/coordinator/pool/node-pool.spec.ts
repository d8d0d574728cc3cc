import { expect } from 'chai';
import path from 'node:path';
import fc from 'fast-check';
import { NodePool } from '../../../../coordinator/pool/node-pool.js';
import { openSqliteStore } from '../../../../coordinator/store/sqlite/sqlite-backend.js';
import { ResourceExhaustedError } from '../../../../shared/errors.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const entries = Array.from({ length: 5 }, (_, i) => ({ hostname: `vwn-00${i}`, ip: `10.0.0.${i + 10}`, mac: `52:54:00:00:00:0${i}` }));

describe('coordinator/pool/NodePool (real SQLite)', () => {
  it('leases whole triples, each once, and refuses when exhausted with advice', () => {
    const store = openSqliteStore(':memory:');
    const pool = new NodePool(entries, store);
    const leased = entries.map((_, i) => pool.lease('bio', `op-${i}`, 0));
    expect(leased.map((n) => [n.hostname, n.ip, n.mac])).to.deep.equal(entries.map((e) => [e.hostname, e.ip, e.mac]));
    expect(() => pool.lease('bio', 'op-x', 0)).to.throw(ResourceExhaustedError, /pool is exhausted/);
    pool.release('vwn-002');
    expect(pool.lease('fusion', 'op-y', 0).hostname).to.equal('vwn-002');
  });

  it('never hands a triple out twice across a restart (the database file is the truth)', async () => {
    const file = path.join(await tempDir('vonode-pool-'), 'state.db');
    const first = openSqliteStore(file);
    new NodePool(entries, first).lease('bio', 'op-1', 0);
    new NodePool(entries, first).lease('bio', 'op-2', 0);
    void first.close();
    const second = openSqliteStore(file);
    const pool = new NodePool(entries, second);
    expect(pool.freeEntries().map((e) => e.hostname)).to.deep.equal(['vwn-002', 'vwn-003', 'vwn-004']);
    expect(pool.lease('fusion', 'op-3', 0).hostname).to.equal('vwn-002');
    void second.close();
  });

  it('rolls a lease back with the transaction that failed', () => {
    const store = openSqliteStore(':memory:');
    const pool = new NodePool(entries, store);
    expect(() => store.transaction(() => {
      pool.lease('bio', 'op-1', 0);
      throw new Error('the operation insert failed');
    })).to.throw(/insert failed/);
    expect(pool.freeEntries()).to.have.length(5);
  });

  it('keeps leases disjoint under any sequence of leases and releases', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.constant('lease' as const), fc.integer({ min: 0, max: 4 })), { maxLength: 40 }), (steps) => {
      const store = openSqliteStore(':memory:');
      const pool = new NodePool(entries, store);
      for (const step of steps) {
        if (step === 'lease') {
          try { pool.lease('bio', 'op', 0); } catch (e) { expect(e).to.be.instanceOf(ResourceExhaustedError); }
        } else pool.release(entries[step]!.hostname);
        const nodes = store.nodes();
        expect(new Set(nodes.map((n) => n.ip)).size).to.equal(nodes.length);
        expect(nodes.length + pool.freeEntries().length).to.equal(entries.length);
        for (const n of nodes) expect(entries).to.deep.include({ hostname: n.hostname, ip: n.ip, mac: n.mac });
      }
      void store.close();
    }), { numRuns: 100 });
  });
});
