import { expect } from 'chai';
import { Reconciler } from '../../../../coordinator/deploy/reconciler.js';
import type { QueueControl } from '../../../../coordinator/deploy/queue-contracts.js';
import type { HostView } from '../../../../coordinator/inventory/agent-registry.js';
import { NodePool } from '../../../../coordinator/pool/node-pool.js';
import type { OperationRecord } from '../../../../coordinator/store/records.js';
import { openSqliteStore } from '../../../../coordinator/store/sqlite/sqlite-backend.js';
import { DomainState, type Domain } from '../../../../shared/gen/vonode/v1/common.js';
import { silentLogger } from '../../../../shared/logger.js';
import { systemClock, type Clock } from '../../../../shared/clock.js';

const pool = [
  { hostname: 'vwn-001', ip: '10.0.0.1', mac: '52:54:00:00:00:01' },
  { hostname: 'vwn-002', ip: '10.0.0.2', mac: '52:54:00:00:00:02' },
];
const host: HostView = { name: 'phys-01', address: '127.0.0.1:1', state: 'up', facts: undefined, lastSeenMonoMs: 0, lastSeenUnixMs: 0 };

/** A queue that only records what the reconciler publishes. */
function fakeQueue(): QueueControl {
  return {
    slots: undefined as never, publish: () => undefined, pump: () => undefined, releaseHost: () => undefined, releaseTransfer: () => undefined,
    finished: () => undefined, isLive: () => false, submitOrphanRemoval: () => ({}) as OperationRecord, hostFailed: () => undefined,
  };
}

// The usage records reconciliation writes: a node found gone ends its VM's life as failed,
// an interrupted deployment adopted after a restart starts (or keeps) its record.
describe('coordinator/deploy/reconciler usage records', () => {
  let now = 10_000;
  const clock: Clock = { ...systemClock, nowMs: () => now };

  it('ends the record of a running node whose domain vanished from its host as failed, and frees its triple', async () => {
    const store = openSqliteStore(':memory:');
    const nodes = new NodePool(pool, store);
    store.transaction(() => {
      store.insertNode({ ...pool[0]!, vo: 'bio', host: 'phys-01', state: 'running', operationId: 'op-1', sinceMs: 5_000, error: '' });
      store.startUsage({ id: 'op-1.1', vo: 'bio', node: 'vwn-001', host: 'phys-01', imageUrl: 'u', imageSha256: 's', applianceId: '', vcpus: 1, memoryMb: 512, startMs: 5_000, startOperationId: 'op-1' });
    });
    now = 12_000;
    new Reconciler({ store, pool: nodes, queue: fakeQueue(), clock, logger: silentLogger() }).onRegistered(host, []);
    expect(store.node('vwn-001')).to.equal(undefined);
    expect((await store.usageRecords(0, 1e9)).map((u) => [u.id, u.status, u.endMs])).to.deep.equal([['op-1.1', 'failed', 12_000]]);
    await store.close();
  });

  it('adopts an interrupted deployment whose domain runs: its record starts from the domain spec (once)', async () => {
    const store = openSqliteStore(':memory:');
    const nodes = new NodePool(pool, store);
    store.transaction(() => {
      store.insertNode({ ...pool[1]!, vo: 'bio', host: 'phys-01', state: 'deploying', operationId: 'op-2', sinceMs: 1, error: '' });
      const op = store.insertOperation({ id: 'op-2', kind: 'deploy', state: 'queued', vo: 'bio', node: 'vwn-002', host: 'phys-01', pinnedHost: '', attempt: 0, excludedHosts: [], error: '', trigger: 'manual', createdMs: 1, finishedMs: 0 });
      store.updateOperation(op.id, { state: 'running', attempt: 1 });
    });
    const reconciler = new Reconciler({ store, pool: nodes, queue: fakeQueue(), clock, logger: silentLogger() });
    reconciler.collectOrphans();
    now = 20_000;
    const domain: Domain = {
      name: 'vwn-002', state: DomainState.DOMAIN_STATE_RUNNING, driver: 'simulated', leasedIp: '10.0.0.2',
      spec: { hostname: 'vwn-002', ip: '10.0.0.2', mac: pool[1]!.mac, vo: 'bio', disk: { url: 'http://repo/bio.qcow2', sha256: 'cd'.repeat(32), sizeBytes: 0, peers: [], rateBytesPerSecond: 0 }, kernel: undefined, initrd: undefined, cmdline: '', vcpus: 4, memoryMb: 2048 },
    };
    reconciler.onRegistered(host, [domain]);
    expect(store.usage('vwn-002')).to.deep.include({ id: 'op-2.1', vcpus: 4, memoryMb: 2048, imageUrl: 'http://repo/bio.qcow2', startMs: 20_000, status: 'running', host: 'phys-01' });
    await store.close();
  });
});
