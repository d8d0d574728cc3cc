import { expect } from 'chai';
import { repoNode } from '../../../../scripts/testbed/lib/testbed-process.js';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { PhaseName } from '../../../../shared/phases.js';
import { connectEtcd, type EtcdConnection } from '../../../../coordinator/ha/etcd-connection.js';
import { LeaderElection } from '../../../../coordinator/ha/leader-election.js';
import { openEtcdStore, readSnapshot } from '../../../../coordinator/store/etcd/etcd-backend.js';
import { KEYS, pad } from '../../../../coordinator/store/etcd/etcd-keys.js';
import type { NodeRecord, OperationRecord, PhaseRow } from '../../../../coordinator/store/records.js';
import { openSqliteStore } from '../../../../coordinator/store/sqlite/sqlite-backend.js';
import type { StateStore } from '../../../../coordinator/store/state-store.js';
import { EtcdCluster } from '../../../../scripts/testbed/lib/etcd-cluster.js';
import { cleanEnv, ROOT, type CliResult } from '../../../helpers/run-vonode-cli.js';

/** `node --import tsx coordinator/main.ts migrate-store ARGS` from the repository root, to completion. */
function migrateStore(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(repoNode('coordinator/main.ts')[0]!, repoNode('coordinator/main.ts', ['migrate-store', ...args]).slice(1), { cwd: ROOT, env: cleanEnv() });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const node = (i: number, state: NodeRecord['state'], host = ''): NodeRecord => ({
  hostname: `vwn-${i}`, ip: `10.0.0.${i}`, mac: `52:54:00:00:00:${String(i).padStart(2, '0')}`, vo: i % 2 ? 'bio' : 'atlas', host, state, operationId: `op-${i}`, sinceMs: 1000 + i, error: '',
});
const op = (id: string, kind: OperationRecord['kind'], nodeName: string): Omit<OperationRecord, 'seq'> => ({
  id, kind, state: 'queued', vo: 'bio', node: nodeName, host: '', pinnedHost: '', attempt: 0, excludedHosts: [], error: '', trigger: 'manual', createdMs: 2000, finishedMs: 0,
});
const phase = (operationId: string, name: PhaseName, edge: PhaseRow['edge'], t: number, host = 'h1'): PhaseRow => ({
  operationId, attempt: 1, host, phase: name, edge, monotonicMs: 100 + t, unixMs: 1_700_000_000_000 + t, durationMs: edge === 'end' ? 7 : 0, details: edge === 'end' ? { bytes: String(t) } : {},
});

const usage = (i: number, operationId: string, host: string, startMs: number) => ({
  id: `${operationId}.1`, vo: i % 2 ? 'bio' : 'atlas', node: `vwn-${i}`, host, imageUrl: 'http://repo/bio.qcow2', imageSha256: 'ab'.repeat(32),
  applianceId: i % 2 ? 'https://appdb.example/vm/1' : '', vcpus: i, memoryMb: 512 * i, startMs, startOperationId: operationId,
});

/** A site's SQLite state: leases deploying, running and freed; operations queued, running, retrying, succeeded and failed; phases. */
function buildSite(store: StateStore): void {
  // op-1: vwn-1 deployed on h1 (succeeded), now running; its phases.
  store.transaction(() => {
    store.insertNode(node(1, 'deploying'));
    store.insertOperation(op('op-1', 'deploy', 'vwn-1'));
  });
  store.updateOperation('op-1', { state: 'running', host: 'h1', attempt: 1 });
  for (const [i, p] of (['CR', 'PT', 'DA', 'VMB', 'VMR'] as const).entries()) {
    store.insertPhase(phase('op-1', p, 'start', 10 * i));
    store.insertPhase(phase('op-1', p, 'end', 10 * i + 7));
  }
  store.updateOperation('op-1', { state: 'succeeded', finishedMs: 3000 });
  store.updateNode('vwn-1', { state: 'running', host: 'h1', sinceMs: 3000 });
  store.startUsage(usage(1, 'op-1', 'h1', 3000));
  // op-2: vwn-2 deploying, second attempt running on h2 after h3 failed.
  store.transaction(() => {
    store.insertNode(node(2, 'deploying'));
    store.insertOperation(op('op-2', 'deploy', 'vwn-2'));
  });
  store.updateOperation('op-2', { state: 'running', host: 'h2', attempt: 2, excludedHosts: ['h3'], trigger: 'policy' });
  store.insertPhase(phase('op-2', 'CR', 'start', 1, 'h3'));
  store.insertPhase(phase('op-2', 'CR', 'start', 2, 'h2'));
  store.updateNode('vwn-2', { host: 'h2' });
  // op-3: vwn-3 failed; its lease was freed.
  store.transaction(() => {
    store.insertNode(node(3, 'deploying'));
    store.insertOperation(op('op-3', 'deploy', 'vwn-3'));
  });
  store.updateOperation('op-3', { state: 'failed', error: 'PT: image not found', attempt: 1, host: 'h1', finishedMs: 3500 });
  store.deleteNode('vwn-3');
  // op-4: a drain of vwn-1 waiting; op-5: vwn-5 retrying.
  store.insertOperation({ ...op('op-4', 'drain', 'vwn-1'), pinnedHost: 'h1' });
  store.transaction(() => {
    store.insertNode(node(5, 'deploying'));
    store.insertOperation(op('op-5', 'deploy', 'vwn-5'));
  });
  store.updateOperation('op-5', { state: 'retrying', attempt: 1, excludedHosts: ['h1', 'h2'], error: 'VMB: timeout', trigger: 'recovery' });
  // op-6: vwn-6 removed (succeeded): no lease left.
  store.insertNode(node(6, 'running', 'h2'));
  store.insertOperation(op('op-6', 'remove', 'vwn-6'));
  store.startUsage(usage(6, 'op-0', 'h2', 1500));
  store.transaction(() => {
    store.endUsage('vwn-6', { endMs: 4000, status: 'removed', endOperationId: 'op-6' });
    store.updateOperation('op-6', { state: 'succeeded', finishedMs: 4000 });
    store.deleteNode('vwn-6');
  });
  store.writeMeta('accounting.apel.sentUntilMs', '3600000');
}

/** What the SQLite file holds, read with a fresh store (which is closed again). */
async function sqliteView(file: string) {
  const store = openSqliteStore(file);
  try {
    return {
      nodes: store.nodes(),
      open: [...store.openOperations()],
      recent: await store.recentOperations(0),
      phases1: await store.phases('op-1'),
      phases2: await store.phases('op-2'),
      usage: await store.usageRecords(0, Number.MAX_SAFE_INTEGER),
    };
  } finally {
    await store.close();
  }
}

async function fileState(file: string): Promise<{ sha: string; mtimeMs: number; siblings: string[] }> {
  const sha = createHash('sha256').update(await readFile(file)).digest('hex');
  const siblings = (await readdir(path.dirname(file))).filter((f) => f.startsWith(path.basename(file))).sort();
  return { sha, mtimeMs: (await stat(file)).mtimeMs, siblings };
}

// `vonode-coordinator migrate-store` spawned from source against a real
// 3-member etcd cluster (Debian etcd-server on loopback ports): an SQLite
// site's state copied into an empty prefix, read back by the etcd store a
// coordinator opens; refusals (non-empty prefix, database in use) and usage
// errors write nothing.
describe('vonode-coordinator migrate-store (spawned) from SQLite into a 3-member etcd cluster', function () {
  this.timeout(120_000);
  let cluster: EtcdCluster;
  let root: EtcdConnection;
  let dir: string;
  let dbFile: string;
  let source: Awaited<ReturnType<typeof sqliteView>>;
  const prefix = `/migrate-${randomUUID().slice(0, 8)}/`;
  const to = (p: string) => `etcd:${cluster.endpoints().join(',')}?prefix=${p}`;
  const conns: EtcdConnection[] = [];
  const connect = (p: string): EtcdConnection => {
    const c = connectEtcd({ endpoints: cluster.endpoints(), prefix: p, leaseTtl: 2000, maxTxnOps: 128 });
    conns.push(c);
    return c;
  };
  const options = (c: EtcdConnection) => ({ ns: c.ns, fence: undefined, clock: systemClock, logger: silentLogger(), onFatal: () => undefined });
  /** Every key and value under a prefix, with its mod revision. */
  const dump = async (c: EtcdConnection) => (await c.ns.getAll().exec()).kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.mod_revision]);

  before(async () => {
    cluster = await EtcdCluster.start({ members: 3 });
    root = connect('/');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-migrate-spec-'));
    dbFile = path.join(dir, 'state.db');
    const store = openSqliteStore(dbFile);
    buildSite(store);
    await store.close();
    source = await sqliteView(dbFile);
  });
  after(async () => {
    for (const c of conns) c.close();
    await cluster?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('copies leases, open and finished operations and phases, verifies them, and never writes the SQLite file', async () => {
    const before = await fileState(dbFile);
    const r = await migrateStore(['--from', `sqlite:${dbFile}`, '--to', to(prefix)]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.include(`migrated sqlite:${dbFile} -> etcd:${cluster.endpoints().join(',')} prefix ${prefix}\n`);
    expect(r.out).to.match(/\n\s+sqlite\s+etcd\n/);
    expect(r.out).to.match(/\nleases\s+3\s+3\n/);
    expect(r.out).to.match(/\nopen operations\s+3\s+3\n/);
    expect(r.out).to.match(/\nfinished operations\s+3\s+3\n/);
    expect(r.out).to.match(/\nphases\s+12\s+12\n/);
    expect(r.out).to.match(/\nusage records\s+2\s+2\n/);
    expect(r.out).to.match(/\nlast seq\s+6\s+6\n/);
    expect(r.out).to.include('verified: read back from etcd');
    expect(await fileState(dbFile), 'the SQLite file (and its siblings) unchanged').to.deep.equal(before);

    // What a coordinator opening the prefix sees.
    const c = connect(prefix);
    const { store } = await openEtcdStore(options(c));
    try {
      expect(store.nodes()).to.deep.equal(source.nodes);
      expect(store.nodes().map((n) => [n.hostname, n.state])).to.deep.equal([['vwn-1', 'running'], ['vwn-2', 'deploying'], ['vwn-5', 'deploying']]);
      expect([...store.openOperations()]).to.deep.equal(source.open);
      expect([...store.openOperations()].map((o) => [o.id, o.seq, o.state])).to.deep.equal([['op-2', 2, 'running'], ['op-4', 4, 'queued'], ['op-5', 5, 'retrying']]);
      expect((await readSnapshot(c.ns)).lastSeq).to.equal(6);
      expect(await store.findOperation('op-3')).to.deep.equal(source.recent.find((o) => o.id === 'op-3'));
      expect((await store.findOperation('op-1'))?.state).to.equal('succeeded');
      expect(await store.phases('op-1')).to.deep.equal(source.phases1);
      expect(await store.phases('op-2')).to.deep.equal(source.phases2);
      expect(await store.recentOperations(0)).to.deep.equal(source.recent);
      expect((await store.recentOperations(2)).map((o) => o.id)).to.deep.equal(['op-5', 'op-6']);
      expect(source.usage.map((u) => [u.id, u.status])).to.deep.equal([['op-0.1', 'removed'], ['op-1.1', 'running']]);
      expect(await store.usageRecords(0, Number.MAX_SAFE_INTEGER)).to.deep.equal(source.usage);
      expect(store.usage('vwn-1')?.id, 'the running VM\'s record is open').to.equal('op-1.1');
      expect(await store.readMeta('accounting.apel.sentUntilMs')).to.equal('3600000');
    } finally {
      await store.close();
    }
    // The coordinator's key layout, lease keys included.
    expect(await c.ns.get(KEYS.ipLease('10.0.0.2')).string()).to.equal('vwn-2');
    expect(await c.ns.get(KEYS.macLease('52:54:00:00:00:05')).string()).to.equal('vwn-5');
    expect(await c.ns.get(KEYS.ipLease('10.0.0.3')).exists(), 'a freed lease has no key').to.equal(false);
    expect(await c.ns.get(KEYS.opId('op-6')).string()).to.equal(pad(6, 12));
    const families = new Set((await c.ns.getAll().keys()).map((k) => k.split('/')[0]));
    expect([...families].sort()).to.deep.equal(['leases', 'meta', 'nodes', 'opid', 'ops', 'phases', 'usage']);
  });

  it('refuses a second run into the same prefix (exit 2) and changes nothing', async () => {
    const c = connect(prefix);
    const before = await dump(c);
    const r = await migrateStore(['--from', `sqlite:${dbFile}`, '--to', to(prefix)]);
    expect(r.code, r.err).to.equal(2);
    expect(r.err).to.include(`etcd prefix ${prefix} is not empty`);
    expect(r.err).to.include(`etcdctl del --prefix ${prefix}`);
    expect(r.out).to.equal('');
    expect(await dump(c)).to.deep.equal(before);
  });

  it('a coordinator elected on the migrated prefix carries on from it: seq, leases and phase order', async () => {
    const c = connect(prefix);
    const election = new LeaderElection({ ns: c.ns, ttlSeconds: 2, address: 'coord-a:7080', clock: systemClock, logger: silentLogger() });
    const fence = await election.campaign();
    const { store } = await openEtcdStore({ ...options(c), fence });
    try {
      expect(store.insertOperation(op('op-7', 'deploy', 'vwn-7')).seq).to.equal(7);
      expect(() => store.insertNode({ ...node(7, 'deploying'), ip: '10.0.0.2' }), 'a migrated lease is held').to.throw(/UNIQUE/);
      store.insertNode(node(7, 'deploying'));
      store.updateNode('vwn-2', { state: 'running' });
      store.insertPhase(phase('op-2', 'PT', 'start', 3, 'h2'));
      await store.durable();
      expect((await store.phases('op-2')).map((p) => [p.phase, p.host])).to.deep.equal([['CR', 'h3'], ['CR', 'h2'], ['PT', 'h2']]);
    } finally {
      await store.close();
      await election.resign();
    }
  });

  it('--json prints {from, to, prefix, nodes, openOperations, finishedOperations, phases, seconds}', async () => {
    const p = `/migrate-json-${randomUUID().slice(0, 8)}/`;
    const r = await migrateStore(['--from', `sqlite:${dbFile}`, '--to', to(p), '--json']);
    expect(r.code, r.err).to.equal(0);
    const summary = JSON.parse(r.out) as Record<string, unknown>;
    expect(summary).to.include({ from: `sqlite:${dbFile}`, to: `etcd:${cluster.endpoints().join(',')}`, prefix: p, nodes: 3, openOperations: 3, finishedOperations: 3, phases: 12, lastSeq: 6 });
    expect(summary['seconds']).to.be.a('number').and.at.least(0);
  });

  it('refuses a prefix where a coordinator campaigns (an election/ key), writing nothing', async () => {
    const p = `/migrate-elected-${randomUUID().slice(0, 8)}/`;
    const c = connect(p);
    const election = new LeaderElection({ ns: c.ns, ttlSeconds: 5, address: 'coord-b:7080', clock: systemClock, logger: silentLogger() });
    await election.campaign();
    try {
      const before = await dump(c);
      const r = await migrateStore(['--from', `sqlite:${dbFile}`, '--to', to(p)]);
      expect(r.code, r.err).to.equal(2);
      expect(r.err).to.match(/is not empty .*a coordinator is running on it \(election\/ has 1 key\)/);
      expect(await dump(c)).to.deep.equal(before);
    } finally {
      await election.resign();
    }
  });

  it('refuses (exit 2) while a process holds the database open, naming it, and writes nothing', async () => {
    const p = `/migrate-busy-${randomUUID().slice(0, 8)}/`;
    const store = openSqliteStore(dbFile);
    try {
      const r = await migrateStore(['--from', `sqlite:${dbFile}`, '--to', to(p)]);
      expect(r.code, r.err).to.equal(2);
      expect(r.err).to.include(`is open in process ${process.pid} (a running coordinator?): stop the coordinator`);
    } finally {
      await store.close();
    }
    expect(await connect(p).ns.getAll().count()).to.equal(0);
  });

  it('refuses a file that is not a vonode state database, and a missing one (creating nothing)', async () => {
    const other = path.join(dir, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE t (a)');
    db.close();
    const missing = path.join(dir, 'missing', 'state.db');
    const [notOurs, none] = await Promise.all([
      migrateStore(['--from', `sqlite:${other}`, '--to', to('/migrate-other/')]),
      migrateStore(['--from', `sqlite:${missing}`, '--to', to('/migrate-other/')]),
    ]);
    expect(notOurs.code, notOurs.err).to.equal(2);
    expect(notOurs.err).to.include('is not a vonode coordinator state database (no table meta, nodes, operations, phases)');
    expect(none.code, none.err).to.equal(2);
    expect(none.err).to.include(`${missing}: no such file`);
    expect(await stat(path.dirname(missing)).then(() => true, () => false), 'nothing created').to.equal(false);
    expect(await root.ns.getAll().prefix('/migrate-other/').count()).to.equal(0);
  });

  it('exits 2 with the usage on a bad --from or --to, a missing one, or half the TLS files', async () => {
    const ok = to('/migrate-usage/');
    const cases: Array<[string[], RegExp]> = [
      [['--from', dbFile, '--to', ok], /--from ".*" must be sqlite:FILE/],
      [['--from', `sqlite:${dbFile}`, '--to', cluster.endpoints()[0]!], /--to ".*" must be etcd:URL/],
      [['--from', `sqlite:${dbFile}`, '--to', 'etcd:127.0.0.1:2379'], /--to: endpoint "127.0.0.1:2379" must be http\(s\):\/\/host:port/],
      [['--from', `sqlite:${dbFile}`, '--to', `${ok.replace(/\?.*/, '')}?prefix=vonode`], /--to: prefix "vonode" must start and end with \//],
      [['--from', `sqlite:${dbFile}`, '--to', `${ok}&ttl=3`], /--to: unknown parameter "ttl"/],
      [['--from', `sqlite:${dbFile}`], /--to etcd:URL.* is required/],
      [['--to', ok], /--from sqlite:FILE is required/],
      [['--from', `sqlite:${dbFile}`, '--to', ok, '--etcd-ca', '/etc/ca.pem'], /give --etcd-ca, --etcd-cert and --etcd-key together/],
      [['--from', `sqlite:${dbFile}`, '--to', ok, 'extra'], /Unexpected argument 'extra'/],
    ];
    const results = await Promise.all(cases.map(([args]) => migrateStore(args)));
    results.forEach((r, i) => {
      expect(r.code, `${cases[i]![0].join(' ')}: ${r.err}`).to.equal(2);
      expect(r.err).to.match(cases[i]![1]);
      expect(r.err).to.include('usage: vonode-coordinator migrate-store --from sqlite:FILE');
    });
    expect(await root.ns.getAll().prefix('/migrate-usage/').count()).to.equal(0);
    const help = await migrateStore(['--help']);
    expect(help.code).to.equal(0);
    expect(help.out).to.include('Stop the coordinator first');
  });
});
