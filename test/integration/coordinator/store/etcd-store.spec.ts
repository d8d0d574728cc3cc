import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { systemClock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';
import { connectEtcd, type EtcdConnection } from '../../../../coordinator/ha/etcd-connection.js';
import { LeaderElection } from '../../../../coordinator/ha/leader-election.js';
import { StandbyView } from '../../../../coordinator/ha/standby-view.js';
import { EventBus } from '../../../../coordinator/events/event-bus.js';
import { openEtcdStore } from '../../../../coordinator/store/etcd/etcd-backend.js';
import { KEYS } from '../../../../coordinator/store/etcd/etcd-keys.js';
import type { NodeRecord, OperationRecord } from '../../../../coordinator/store/records.js';
import { EtcdCluster } from '../../../../scripts/testbed/lib/etcd-cluster.js';
import { storeContract } from '../../../unit/coordinator/store/state-store-contract.js';

// The StateStore contract (test/unit/coordinator/store/state-store-contract.ts)
// on the etcd backend, against a real 3-member etcd cluster (Debian
// etcd-server) on loopback ports, with etcd's default txn limit (128 ops):
// the same properties as on SQLite, plus what only etcd has to prove:
// fencing by the leader's election key, and journaled transactions.
describe('coordinator/store/etcd (StateStore contract on a 3-member etcd cluster)', function () {
  this.timeout(60_000);
  let cluster: EtcdCluster;
  let conn: EtcdConnection;
  const config = (prefix: string) => ({ endpoints: cluster.endpoints(), prefix, leaseTtl: 2000, maxTxnOps: 128 });
  const fatal: string[] = [];
  const options = (c: EtcdConnection) => ({ ns: c.ns, clock: systemClock, logger: silentLogger(), onFatal: (r: string) => void fatal.push(r) });

  before(async () => {
    cluster = await EtcdCluster.start({ members: 3 });
    conn = connectEtcd(config('/'));
  });
  after(async () => {
    conn?.close();
    await cluster?.close();
  });

  describe('contract', () => {
    storeContract(() => {
      const c = connectEtcd(config(`/contract-${randomUUID()}/`));
      const open = async () => (await openEtcdStore({ ...options(c), fence: undefined })).store;
      return { open, reopen: open };
    });
  });

  const node = (i: number): NodeRecord => ({
    hostname: `vwn-${i}`, ip: `10.0.0.${i}`, mac: `52:54:00:00:00:${String(i).padStart(2, '0')}`, vo: 'bio', host: '', state: 'deploying', operationId: `op-${i}`, sinceMs: 1, error: '',
  });
  const op = (i: number): Omit<OperationRecord, 'seq'> => ({
    id: `op-${i}`, kind: 'deploy', state: 'queued', vo: 'bio', node: `vwn-${i}`, host: '', pinnedHost: '', attempt: 0, excludedHosts: [], error: '', trigger: 'manual', createdMs: 1, finishedMs: 0,
  });

  it('fences a deposed leader: once its election key is gone, etcd refuses its commits and it is told to stop', async () => {
    const c = connectEtcd(config(`/fence-${randomUUID()}/`));
    try {
      const election = new LeaderElection({ ns: c.ns, ttlSeconds: 2, address: 'coord-a:7080', clock: systemClock, logger: silentLogger() });
      const fence = await election.campaign();
      fatal.length = 0;
      const { store } = await openEtcdStore({ ...options(c), fence });
      store.transaction(() => {
        store.insertNode(node(1));
        store.insertOperation(op(1));
      });
      await store.durable();
      // Deposed behind its back (the lease expired while it was stopped): the key is gone.
      await c.ns.delete().key(fence.key).exec();
      store.insertNode(node(2));
      let refused: Error | undefined;
      await store.durable().catch((e: Error) => (refused = e));
      expect(refused?.message).to.match(/election key \(term \d+\) is gone; it is no longer the leader/);
      expect(fatal).to.have.length(1);
      expect(await c.ns.get(KEYS.node('vwn-2')).exists(), 'nothing of the refused commit is in etcd').to.equal(false);
      expect(await c.ns.get(KEYS.node('vwn-1')).exists()).to.equal(true);
      const writer = JSON.parse((await c.ns.get(KEYS.writer).string())!) as { term: number };
      expect(writer.term).to.equal(fence.term);
      await election.resign();
    } finally {
      c.close();
    }
  });

  it('refuses a lease whose keys exist in etcd although the leader believed them free (per-key compare-and-swap)', async () => {
    const c = connectEtcd(config(`/cas-${randomUUID()}/`));
    try {
      fatal.length = 0;
      const { store } = await openEtcdStore({ ...options(c), fence: undefined });
      // Another writer (a bug, or a second leader without fencing) took vwn-3's IP meanwhile.
      await c.ns.put(KEYS.ipLease('10.0.0.3')).value('intruder').exec();
      store.insertNode(node(3));
      let refused: Error | undefined;
      await store.durable().catch((e: Error) => (refused = e));
      expect(refused?.message).to.match(/lease key did not match/);
      expect(await c.ns.get(KEYS.node('vwn-3')).exists()).to.equal(false);
      expect(await c.ns.get(KEYS.ipLease('10.0.0.3')).string()).to.equal('intruder');
    } finally {
      c.close();
    }
  });

  it('replays a journaled transaction a crashed leader left half applied, so it is all or nothing', async () => {
    const c = connectEtcd(config(`/journal-${randomUUID()}/`));
    try {
      // What a leader leaves when it dies between a journal and its last chunk: the journal, and part of its writes.
      const writes: Record<string, string | null> = {};
      for (let i = 1; i <= 3; i++) {
        writes[KEYS.node(`vwn-${i}`)] = JSON.stringify(node(i));
        writes[KEYS.ipLease(node(i).ip)] = `vwn-${i}`;
        writes[KEYS.macLease(node(i).mac)] = `vwn-${i}`;
        writes[KEYS.openOp(i)] = JSON.stringify({ ...op(i), seq: i });
        writes[KEYS.opId(`op-${i}`)] = String(i);
      }
      await c.ns.put(KEYS.journal(7, 1)).value(JSON.stringify(writes)).exec();
      await c.ns.put(KEYS.node('vwn-1')).value(writes[KEYS.node('vwn-1')]!).exec();
      const { store } = await openEtcdStore({ ...options(c), fence: undefined });
      expect(store.nodes().map((n) => n.hostname)).to.deep.equal(['vwn-1', 'vwn-2', 'vwn-3']);
      expect(store.operationsIn(['queued']).map((o) => o.seq)).to.deep.equal([1, 2, 3]);
      expect(await c.ns.getAll().prefix(KEYS.journals).keys(), 'the journal is gone once applied').to.deep.equal([]);
    } finally {
      c.close();
    }
  });

  it('commits a write made the moment an earlier one became durable, and every write after it (the pipeline never stalls)', async () => {
    const c = connectEtcd(config(`/drain-${randomUUID()}/`));
    try {
      const { store } = await openEtcdStore({ ...options(c), fence: undefined });
      const bounded = (p: Promise<void>): Promise<string> => Promise.race([p.then(() => 'durable'), new Promise<string>((r) => setTimeout(() => r('stalled'), 5000))]);
      store.insertNode(node(1));
      // As OperationRunner.remove does: wait for durable, then write at once (while the pipeline winds down its drain).
      expect(await bounded(store.durable().then(() => store.insertOperation(op(1))).then(() => store.durable()))).to.equal('durable');
      store.insertNode(node(2));
      expect(await bounded(store.durable())).to.equal('durable');
      expect(await c.ns.get(KEYS.node('vwn-2')).exists()).to.equal(true);
    } finally {
      c.close();
    }
  });

  it('a standby serves the usage records the leader wrote: running ones from its watch, ended ones from etcd', async () => {
    const prefix = `/standby-usage-${randomUUID()}/`;
    const c = connectEtcd(config(prefix));
    let view: StandbyView | undefined;
    try {
      const { store } = await openEtcdStore({ ...options(c), fence: undefined });
      const start = (n: number, startMs: number) => ({
        id: `op-${n}.1`, vo: 'bio', node: `vwn-${n}`, host: 'phys-01', imageUrl: 'u', imageSha256: 's', applianceId: '', vcpus: 1, memoryMb: 512, startMs, startOperationId: `op-${n}`,
      });
      store.startUsage(start(1, 1_000));
      await store.durable();
      view = await StandbyView.open(c.ns, prefix, new EventBus(), silentLogger(), () => 'leader:7080', { replicate: () => undefined }, () => undefined);
      expect(view.store.openUsageRecords().map((u) => u.id), 'read at open').to.deep.equal(['op-1.1']);
      store.startUsage(start(2, 2_000));
      store.endUsage('vwn-1', { endMs: 5_000, status: 'removed', endOperationId: 'op-7' });
      store.writeMeta('accounting.apel.sentUntilMs', '3600000');
      await store.durable();
      const deadline = Date.now() + 5000;
      while (view.store.openUsageRecords().map((u) => u.id).join() !== 'op-2.1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(view.store.openUsageRecords().map((u) => u.id), 'followed by the watch').to.deep.equal(['op-2.1']);
      expect((await view.store.usageRecords(0, 10_000)).map((u) => [u.id, u.status, u.endMs])).to.deep.equal([['op-1.1', 'removed', 5_000], ['op-2.1', 'running', 0]]);
      expect(await view.store.readMeta('accounting.apel.sentUntilMs')).to.equal('3600000');
      expect(() => view!.store.startUsage(start(3, 3_000)), 'a standby writes nothing').to.throw(/leader/i);
      await store.close();
    } finally {
      await view?.close();
      c.close();
    }
  });

  it('keeps committing with one member of three killed', async () => {
    const c = connectEtcd(config(`/one-down-${randomUUID()}/`));
    try {
      const { store } = await openEtcdStore({ ...options(c), fence: undefined });
      store.insertNode(node(1));
      await store.durable();
      await cluster.kill(0);
      store.insertNode(node(2));
      store.insertOperation(op(2));
      await store.durable();
      expect(await c.ns.get(KEYS.node('vwn-2')).exists()).to.equal(true);
    } finally {
      c.close();
      await cluster.restart(0);
    }
  });
});
