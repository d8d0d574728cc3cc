import { expect } from 'chai';
import { KEYS } from '../../../../coordinator/store/etcd/etcd-keys.js';
import type { OperationRecord } from '../../../../coordinator/store/records.js';
import type { FollowingCoordinatorClient } from '../../../../shared/rpc/following-coordinator-client.js';
import { HaSite, type HaCoordinator, type SiteAudit } from '../../../../scripts/testbed/lib/ha-site.js';
import { until } from '../../../../scripts/testbed/lib/wait.js';
import { consoleRequest } from '../../../helpers/console-client.js';

// The HA coordinator end to end: a REAL 3-member etcd cluster (Debian
// etcd-server), two REAL vonode-coordinator processes on store.etcd
// (restarted when they exit, as their systemd unit does), four REAL agents
// on the simulated hypervisor driver. The scenarios run in order on one site.
describe('coordinator HA on etcd: failover with nothing lost', function () {
  this.timeout(240_000);
  let site: HaSite;
  let client: FollowingCoordinatorClient;
  let deployed = 0;

  before(async () => {
    site = new HaSite({ coordinators: 2, agents: ['phys-a', 'phys-b', 'phys-c', 'phys-d'], poolSize: 40, bootDelay: '3s', console: true });
    await site.start();
    client = site.client();
    await hostsUp(await site.waitForLeader(30_000), 4);
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(site.recentLogs(80));
  });
  after(async () => {
    client?.close();
    await site?.stop();
  });

  async function hostsUp(leader: HaCoordinator, count: number): Promise<void> {
    const c = site.clientOf(leader);
    try {
      await until(`${count} agents registered with the leader`, async () => (await c.status(2000).catch(() => undefined))?.hostsUp === count || undefined, 30_000, 200);
    } finally {
      c.close();
    }
  }

  /** Queues `count` deployments; the stream is followed in the background (it breaks when its coordinator dies). */
  function deploy(count: number): void {
    deployed += count;
    void (async () => {
      for await (const _ of client.deployNodes({ vo: 'bio', count })) void _;
    })().catch(() => undefined);
  }

  /** Waits until every deployment asked for ended and the site is clean; returns the audit. */
  async function settled(timeoutMs = 120_000): Promise<SiteAudit> {
    return until('every deployment ended, every lease running', async () => {
      const a = await site.audit().catch(() => undefined);
      return a && a.openOperations === 0 && a.nodes.length === deployed && a.nodes.every((n) => n.state === 'running') ? a : undefined;
    }, timeoutMs, 500);
  }

  function expectClean(a: SiteAudit): void {
    expect(a.leakedTriples, 'leaked triples').to.deep.equal([]);
    expect(a.doubledTriples, 'doubled triples').to.deep.equal([]);
    expect(a.orphanDomains, 'domains no lease explains').to.deep.equal([]);
    expect(a.orphanReservations, 'DHCP reservations no domain explains').to.deep.equal([]);
  }

  async function finishedDeploys(): Promise<OperationRecord[]> {
    const done = await site.etcdStore.ns.getAll().prefix(KEYS.doneOps).strings();
    return Object.values(done).map((t) => JSON.parse(t) as OperationRecord).filter((o) => o.kind === 'deploy');
  }

  it('a standby serves reads from etcd (gRPC and its web console) and refuses writes naming the leader', async () => {
    const leader = (await site.leader())!;
    // The leader publishes its registry within 200 ms of a registration.
    await new Promise((r) => setTimeout(r, 500));
    const standby = site.coordinators.find((c) => c !== leader)!;
    const sc = site.clientOf(standby);
    try {
      const status = await sc.status();
      expect(status.cluster?.role).to.equal('standby');
      expect(status.cluster?.leader).to.equal(leader.address);
      expect(status.cluster?.coordinators.map((c) => c.role)).to.deep.equal(['leader', 'standby']);
      expect(status.cluster?.storeMembers.filter((m) => m.healthy)).to.have.length(3);
      expect(status.hostsUp, 'the hosts the leader published').to.equal(4);
      expect((await sc.listHosts()).hosts.map((h) => h.name)).to.deep.equal(['phys-a', 'phys-b', 'phys-c', 'phys-d']);
      const refused = await sc.applyPolicy('vos: {}').catch((e: Error) => e);
      expect(String(refused)).to.match(/standby; the leader is at 127\.0\.0\.1:\d+/);
    } finally {
      sc.close();
    }
    // Its web console too: the same reads, saying it is a standby.
    const tls = site.tls('cli');
    const admin = { ca: tls.ca, cert: { cert: tls.cert, key: tls.key } };
    expect((await consoleRequest(standby.consolePort, '/api/whoami', admin)).json()).to.include({ name: 'cli', via: 'certificate', coordinator: 'standby', site: 'ha-site' });
    expect((await consoleRequest(leader.consolePort, '/api/whoami', admin)).json()).to.include({ coordinator: 'leader' });
    const hosts = (await consoleRequest(standby.consolePort, '/api/hosts', admin)).json<{ hosts: Array<{ name: string }> }>();
    expect(hosts.hosts.map((h) => h.name)).to.deep.equal(['phys-a', 'phys-b', 'phys-c', 'phys-d']);
  });

  it('a policy applied on the leader reaches every standby (its own policy file rewritten)', async () => {
    const leader = (await site.leader())!;
    const standby = site.coordinators.find((c) => c !== leader)!;
    const lc = site.clientOf(leader);
    const sc = site.clientOf(standby);
    try {
      const text = (await lc.getPolicy()).yaml.replace(/max: 500/, 'max: 499');
      expect(text).to.contain('max: 499');
      await lc.applyPolicy(text);
      await until('the standby runs the new policy', async () => ((await sc.getPolicy()).yaml === text ? true : undefined), 15_000, 100);
    } finally {
      lc.close();
      sc.close();
    }
  });

  it('SIGKILL of the leader with 20 deployments in flight: every one ends deployed, no triple leaked or doubled, no orphan domain', async () => {
    const old = (await site.leader())!;
    const oldTerm = await site.leaderTerm();
    deploy(20);
    const lc = site.clientOf(old);
    await until('deployments in flight on the leader', async () => {
      const s = await lc.status(2000).catch(() => undefined);
      return s && s.runningOperations >= 4 && s.vos.find((v) => v.vo === 'bio')!.running < 20 ? true : undefined;
    }, 30_000, 100);
    lc.close();
    await site.killCoordinator(old, true);
    const next = await site.waitForLeader(30_000, old);
    expect(await site.leaderTerm()).to.be.greaterThan(oldTerm);
    const audit = await settled();
    expect(audit.nodes).to.have.length(20);
    expectClean(audit);
    const ops = await finishedDeploys();
    expect(ops.filter((o) => o.state === 'succeeded'), 'every deployment succeeded').to.have.length(20);
    expect(ops.filter((o) => o.state === 'failed')).to.deep.equal([]);
    // The killed coordinator came back (its unit restarts it) as a standby of the new leader.
    await until('the old leader back as a standby', async () => {
      const c = site.clientOf(old);
      const s = await c.status(2000).catch(() => undefined).finally(() => c.close());
      return s?.cluster?.role === 'standby' && s.cluster.leader === next.address ? true : undefined;
    }, 30_000, 200);
  });

  it('a leader stopped past its lease (SIGSTOP) stops acting before the new leader starts, and writes nothing after waking', async () => {
    const old = (await site.leader())!;
    const oldTerm = await site.leaderTerm();
    // Every commit writes meta/writer with its term: its history is who wrote what, in etcd's order.
    const writers: Array<{ term: number; revision: number }> = [];
    const watcher = await site.etcdStore.ns.watch().key(KEYS.writer).create();
    watcher.on('put', (kv) => writers.push({ term: (JSON.parse(kv.value.toString()) as { term: number }).term, revision: Number(kv.mod_revision) }));
    try {
      deploy(4);
      await until('the deployments started', async () => (await site.audit()).nodes.some((n) => n.host !== '') || undefined, 30_000, 100);
      site.signal(old, 'SIGSTOP');
      const next = await site.waitForLeader(30_000, old);
      const newTerm = await site.leaderTerm();
      expect(newTerm).to.be.greaterThan(oldTerm);
      // Let the new leader work a while, then wake the old one up.
      await until('the new leader wrote', () => writers.some((w) => w.term === newTerm) || undefined, 30_000, 100);
      site.signal(old, 'SIGCONT');
      await until('the old leader exited for losing the leadership', () => site.exitedForLeadership(old) || undefined, 30_000, 100);
      const audit = await settled();
      expectClean(audit);
      const firstNew = writers.findIndex((w) => w.term === newTerm);
      expect(writers.slice(firstNew).filter((w) => w.term !== newTerm), 'writes by another term once the new leader wrote').to.deep.equal([]);
      expect(site.recentLogs(4000, `coordinator-${old.index}`)).to.match(/leadership lost or unobtainable/);
      expect(next.address).to.not.equal(old.address);
    } finally {
      await watcher.cancel();
    }
  });

  it('one etcd member of three killed: no interruption; two killed: writes stop and status says why; quorum back: resumes with nothing lost', async () => {
    await site.etcd.kill(2);
    const before = (await site.leader())!;
    deploy(2);
    await settled(60_000);
    expect((await site.leader())?.address, 'the same leader throughout').to.equal(before.address);
    expect(site.coordinators.every((c) => !site.exitedForLeadership(c) || c !== before)).to.equal(true);

    const exitsBefore = before.exits.length;
    await site.etcd.kill(1);
    // The leader cannot renew its lease: it stops writing and exits, and its restart is a standby like the other.
    await until('the leader stopped for want of quorum', () => (before.exits.length > exitsBefore && site.exitedForLeadership(before)) || undefined, 30_000, 100);
    const any = site.coordinators[0]!;
    const status = await until('status naming the lost quorum', async () => {
      const c = site.clientOf(any);
      const s = await c.status(5000).catch(() => undefined).finally(() => c.close());
      return s?.cluster?.storeError.match(/no quorum/) ? s : undefined;
    }, 60_000, 500);
    expect(status.cluster!.storeMembers.filter((m) => m.healthy)).to.have.length.below(2);
    expect(status.cluster!.role).to.equal('standby');
    const refused = await client.deployNodes({ vo: 'bio', count: 1 })[Symbol.asyncIterator]().next().then((r) => r, (e: Error) => e);
    expect(String(refused)).to.match(/no coordinator of .* took the call|no leader is elected|lost the leadership/);
    expect(site.recentLogs(4000, `coordinator-${before.index}`)).to.match(/etcd has not confirmed the leadership lease within the TTL: holding still/);
    const leasesBefore = deployed;

    await site.etcd.restart(1);
    await site.etcd.restart(2);
    const leader = await site.waitForLeader(60_000);
    await hostsUp(leader, 4);
    deploy(2);
    const audit = await settled();
    expect(audit.nodes).to.have.length(leasesBefore + 2);
    expectClean(audit);
  });
});
