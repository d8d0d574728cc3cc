import { expect } from 'chai';
import { Etcd3 } from 'etcd3';
import { access, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { EtcdCluster } from '../../../../scripts/testbed/lib/etcd-cluster.js';
import { until } from '../../../../scripts/testbed/lib/wait.js';

// scripts/testbed/lib/etcd-cluster.ts with the real etcd (Debian etcd-server
// 3.4) and the real etcd3 client: three members on 127.0.0.1, frozen with
// SIGSTOP, killed one then two at a time, restarted on their data dirs. The
// tests run in order on one cluster.
//
// The client gets a 2 s deadline per call: etcd3 1.1.2 sets none by default
// (and ignores dialTimeout), so a call that reaches a SIGSTOPped member hangs
// for ever, and one without quorum waits for etcd's own request timeout
// (5 s + 2 × election timeout = 7 s) before the client retries elsewhere. With
// the deadline, a write without quorum fails in 1-2 s (at most 3 attempts).

const CALL_DEADLINE_MS = 2_000;
/** A bound on every client call in this spec, beyond the client's own deadline, so a hang fails the test instead of mocha's timeout. */
const BOUND_MS = 10_000;

function within<T>(p: Promise<T>, ms = BOUND_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bounded: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

describe('scripts/testbed/etcd-cluster: a real 3-member etcd cluster', function () {
  this.timeout(30_000);
  let cluster: EtcdCluster | undefined;
  let client: Etcd3 | undefined;
  /** Every write that succeeded, which must all survive. */
  const written = new Map<string, string>();

  const c = (): EtcdCluster => cluster!;
  async function put(key: string, value: string): Promise<void> {
    await within(client!.put(key).value(value).exec());
    written.set(key, value);
  }
  async function expectNothingLost(): Promise<void> {
    const all = await within(client!.getAll().prefix('t/').strings());
    expect(all).to.deep.equal(Object.fromEntries(written));
  }

  before(async () => {
    cluster = await EtcdCluster.start();
    client = new Etcd3({
      hosts: cluster.endpoints(),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
    });
  });
  after(async () => {
    client?.close();
    await cluster?.close();
  });

  it('refuses an election timeout under 5 heartbeats before starting anything', async () => {
    let err: unknown;
    await EtcdCluster.start({ heartbeatMs: 300, electionMs: 1000 }).catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/electionMs \(1000\) must be at least 5 × heartbeatMs \(300\)/);
  });

  it('starts three healthy members on distinct loopback ports and serves put/get', async () => {
    const eps = c().endpoints();
    expect(eps).to.have.length(3);
    for (const ep of eps) expect(ep).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new Set(eps).size).to.equal(3);
    for (let i = 0; i < 3; i++) {
      const m = c().member(i);
      expect(m).to.include({ index: i, name: `m${i}`, clientUrl: eps[i], state: 'running' });
      expect(m.pid).to.be.a('number');
      expect(m.id).to.match(/^\d+$/);
      expect(await c().health(i), m.name).to.equal(true);
    }
    expect(await c().leader()).to.be.oneOf([0, 1, 2]);
    await put('t/fresh', 'one');
    expect(await within(client!.get('t/fresh').string())).to.equal('one');
  });

  it('freezes the leader with SIGSTOP (the others take over) and thaws it with SIGCONT', async () => {
    const l = (await c().leader())!;
    const pid = c().member(l).pid!;
    await c().stop(l);
    expect(c().member(l).state).to.equal('stopped');
    expect(c().member(l).pid).to.equal(pid);
    expect(await c().health(l)).to.equal(false);
    // the first attempt may go to the frozen member and run into the call deadline
    await put('t/while-frozen', 'two');
    expect(await c().leader()).to.be.oneOf([0, 1, 2].filter((i) => i !== l));
    await c().cont(l);
    await c().waitHealthy(l);
    expect(c().member(l)).to.include({ state: 'running', pid });
    await put('t/thawed', 'three');
    await expectNothingLost();
  });

  it('keeps accepting writes after member 0 is killed', async () => {
    const pid = c().member(0).pid!;
    await c().kill(0);
    expect(c().member(0).state).to.equal('killed');
    expect(gone(pid)).to.equal(true);
    await c().kill(0); // a second kill is a no-op
    await put('t/one-down', 'four');
    await expectNothingLost();
  });

  it('fails a write within the client deadline once a second member is killed', async () => {
    await c().kill(1);
    expect(c().endpoints().map((_, i) => c().member(i).state)).to.deep.equal(['killed', 'killed', 'running']);
    const t0 = performance.now();
    const err = await within(client!.put('t/no-quorum').value('lost?').exec()).then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = performance.now() - t0;
    expect(err, 'the write without quorum').to.be.instanceOf(Error);
    expect((err as Error).message).to.not.match(/^bounded:/);
    expect(ms).to.be.below(3 * CALL_DEADLINE_MS + 1_500);
    // the survivor says so too, and a dead member cannot become healthy
    await until('m2 unhealthy', async () => !(await c().health(2)), 5_000);
    let notHealthy: unknown;
    await c().waitHealthy(0, 1_000).catch((e: unknown) => (notHealthy = e));
    expect(String(notHealthy)).to.match(/m0 is killed/).and.to.contain(c().member(0).logFile);
  });

  it('serves writes again after both are restarted on their data dirs, with nothing written before lost', async () => {
    const before = [0, 1].map((i) => c().member(i).pid);
    await c().restart(0); // m0 + m2 are a quorum again
    await c().restart(1);
    for (let i = 0; i < 3; i++) expect(c().member(i).state).to.equal('running');
    expect([0, 1].map((i) => c().member(i).pid)).to.not.include.members(before.filter((p) => p !== undefined));
    await put('t/restarted', 'five');
    // t/no-quorum is indeterminate (its proposal may still commit), so only the acknowledged writes are checked
    const all = await within(client!.getAll().prefix('t/').strings());
    delete all['t/no-quorum'];
    expect(all).to.deep.equal(Object.fromEntries(written));
  });

  it('close() kills every member by PID, keeps only the logs after a reported failure, and may be called twice', async () => {
    const pids = [0, 1, 2].map((i) => c().member(i).pid!);
    const base = path.dirname(c().member(0).dataDir);
    await c().close();
    await c().close();
    expect(pids.map(gone)).to.deep.equal([true, true, true]);
    expect([0, 1, 2].map((i) => c().member(i).state)).to.deep.equal(['killed', 'killed', 'killed']);
    // the waitHealthy(0) failure above counts as reported: the data dirs go, the logs stay for a post-mortem
    expect((await readdir(base)).sort()).to.deep.equal(['logs']);
    expect((await readdir(path.join(base, 'logs'))).sort()).to.deep.equal(['m0.log', 'm1.log', 'm2.log']);
    await rm(base, { recursive: true, force: true });
  });

  it('removes the whole temp dir on close() when nothing failed', async () => {
    const one = await EtcdCluster.start({ members: 1 });
    try {
      expect(one.endpoints()).to.have.length(1);
      expect(await one.health(0)).to.equal(true);
    } finally {
      await one.close();
    }
    let missing: unknown;
    await access(path.dirname(one.member(0).dataDir)).catch((e: unknown) => (missing = e));
    expect(missing).to.have.property('code', 'ENOENT');
  });
});
