import { expect } from 'chai';
import { credentials, status } from '@grpc/grpc-js';
import { createServer } from 'node:net';
import type { CoordinatorEvent } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { CoordinatorCallError, CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { FollowingCoordinatorClient, type CoordinatorMove } from '../../../../shared/rpc/following-coordinator-client.js';
import { CannedCoordinatorDouble } from '../../../helpers/coordinator-double.js';

/** A loopback address nothing listens on (bound, read back, closed). */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

async function failure(p: Promise<unknown>): Promise<CoordinatorCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CoordinatorCallError) return err;
    throw err;
  }
  return expect.fail('expected the call to fail');
}

async function collect(events: AsyncIterable<CoordinatorEvent>): Promise<CoordinatorEvent[]> {
  const out: CoordinatorEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const register = { hostName: 'phys-1', address: '127.0.0.1:7070', facts: undefined, domains: [] };
const methods = (d: CannedCoordinatorDouble): string[] => d.calls.map((c) => c.method);

// Real grpc-js servers on loopback: a dead port, a standby that refuses writes naming the
// leader (NotLeaderError: UNAVAILABLE + vonode-leader trailer) and the leader.
describe('shared/rpc/FollowingCoordinatorClient (real gRPC on loopback)', function () {
  this.timeout(20_000);
  let leader: CannedCoordinatorDouble;
  let standby: CannedCoordinatorDouble;
  let dead: string;
  let client: FollowingCoordinatorClient | undefined;
  let moves: CoordinatorMove[];

  const follow = (addresses: string[]): FollowingCoordinatorClient => {
    client = new FollowingCoordinatorClient(addresses, credentials.createInsecure(), { onMove: (m) => void moves.push(m) });
    return client;
  };

  beforeEach(async () => {
    moves = [];
    leader = new CannedCoordinatorDouble();
    leader.agentTerm = 57;
    standby = new CannedCoordinatorDouble();
    standby.agentTerm = 57;
    await leader.start();
    await standby.start();
    standby.standbyOf = leader.address;
    dead = await deadAddress();
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await leader.stop();
    await standby.stop();
  });

  it('takes a read from the first coordinator that answers, a standby too, and stays there', async () => {
    const c = follow([dead, standby.address, leader.address]);
    expect((await c.status()).site).to.equal('ucm');
    expect(c.address).to.equal(standby.address);
    expect(methods(standby)).to.deep.equal(['Status']);
    expect(methods(leader)).to.deep.equal([]);
    await c.listNodes('bio');
    expect(methods(standby)).to.deep.equal(['Status', 'ListNodes']);
    expect(moves).to.deep.include({ method: 'Status', from: dead, to: standby.address, reason: moves[0]!.reason, named: false });
  });

  it('moves a write past a dead coordinator and a standby to the leader it names, and sends the next write there at once', async () => {
    const c = follow([dead, standby.address, leader.address]);
    const res = await c.registerAgent(register, 5000);
    expect(res.coordinatorTerm).to.equal(57);
    expect(c.address).to.equal(leader.address);
    expect(methods(standby)).to.deep.equal(['RegisterAgent']);
    expect(methods(leader)).to.deep.equal(['RegisterAgent']);
    expect(moves.at(-1)).to.include({ from: standby.address, to: leader.address, named: true });
    expect(moves.at(-1)!.reason).to.match(/standby; the leader is at/);
    await c.heartbeat({ hostName: 'phys-1', facts: undefined }, 5000);
    await c.applyPolicy('vos: {}\n');
    expect(methods(standby)).to.deep.equal(['RegisterAgent']);
    expect(methods(leader)).to.deep.equal(['RegisterAgent', 'Heartbeat', 'ApplyPolicy']);
  });

  it('follows a named leader that is not in its list, even from a single address', async () => {
    const c = follow([standby.address]);
    await c.reportVisibility({ phase: 7, hostnames: ['vwn-001'], reporter: 'test', moment: '' });
    expect(c.known).to.deep.equal([standby.address, leader.address]);
    expect(methods(leader)).to.deep.equal(['ReportVisibility']);
  });

  it('with a single address and no leader named, fails at once with the plain error, as CoordinatorClient does', async () => {
    const c = follow([dead]);
    const plain = new CoordinatorClient(dead, credentials.createInsecure());
    try {
      const [err, plainErr] = [await failure(c.status()), await failure(plain.status())];
      expect(err.code).to.equal(status.UNAVAILABLE);
      expect(plainErr.code).to.equal(status.UNAVAILABLE);
      expect(err.details).to.match(/^No connection established/);
      expect(err.details).to.not.match(/no coordinator of/);
      expect(moves).to.deep.equal([]);
    } finally {
      plain.close();
    }
    standby.standbyOf = '';
    const refused = await failure(follow([standby.address]).applyPolicy('x'));
    expect(refused.details).to.match(/no leader is elected now/);
    expect(methods(standby)).to.deep.equal(['ApplyPolicy']);
  });

  it('gives up after two passes over the list when there is no leader, naming every coordinator and why', async () => {
    standby.standbyOf = '';
    const c = follow([dead, standby.address]);
    const started = Date.now();
    const err = await failure(c.applyPolicy('vos: {}\n'));
    expect(Date.now() - started).to.be.below(5000);
    expect(err.code).to.equal(status.UNAVAILABLE);
    expect(err.details).to.match(new RegExp(`^no coordinator of ${dead}, ${standby.address} took the call`));
    expect(err.details).to.include(`${standby.address}: this coordinator is a standby and no leader is elected now`);
    expect(err.leader).to.equal('');
    // 2 passes + 1 = 5 attempts: dead, standby, dead, standby, dead.
    expect(methods(standby)).to.deep.equal(['ApplyPolicy', 'ApplyPolicy']);
  });

  it('stops retrying when the call\'s deadline would pass', async () => {
    standby.standbyOf = '';
    const c = new FollowingCoordinatorClient([dead, standby.address], credentials.createInsecure(), { backoffMs: { initial: 400, max: 400 } });
    client = c;
    const started = Date.now();
    const err = await failure(c.heartbeat({ hostName: 'phys-1', facts: undefined }, 300));
    expect(Date.now() - started).to.be.below(1000);
    expect(err.code).to.equal(status.UNAVAILABLE);
    expect(methods(standby)).to.deep.equal(['Heartbeat']);
  });

  it('returns any other error at once, from wherever it came', async () => {
    leader.data.applyPolicyProblems = 'vos.bio.weight: must be above 0';
    const c = follow([leader.address, standby.address]);
    const err = await failure(c.applyPolicy('vos: {}\n'));
    expect(err.code).to.equal(status.INVALID_ARGUMENT);
    expect(err.details).to.equal('vos.bio.weight: must be above 0');
    expect(methods(standby)).to.deep.equal([]);
    const viaStandby = await failure(follow([standby.address, leader.address]).applyPolicy('x'));
    expect(viaStandby.code).to.equal(status.INVALID_ARGUMENT);
  });

  it('finds the new leader after a failover: the old one dies, a standby takes over', async () => {
    const c = follow([leader.address, standby.address]);
    await c.heartbeat({ hostName: 'phys-1', facts: undefined }, 5000);
    await leader.stop();
    standby.standbyOf = undefined;
    standby.agentTerm = 58;
    const res = await c.heartbeat({ hostName: 'phys-1', facts: undefined }, 5000);
    expect(res.coordinatorTerm).to.equal(58);
    expect(c.address).to.equal(standby.address);
  });

  it('moves a stream that fails before its first message (DeployNodes at a standby) to the leader', async () => {
    const c = follow([dead, standby.address, leader.address]);
    const events = await collect(c.deployNodes({ vo: 'bio', count: 1 }));
    expect(events.at(-1)?.event?.$case).to.equal('operation');
    expect(methods(standby)).to.deep.equal(['DeployNodes']);
    expect(methods(leader)).to.deep.equal(['DeployNodes']);
    await collect(c.removeNode('vo-bio-01'));
    expect(methods(leader)).to.deep.equal(['DeployNodes', 'RemoveNode']);
  });

  it('does not move a stream that fails after a message has arrived', async () => {
    leader.data.watchEvents = [{ unixMs: 1, event: { $case: 'policy', value: leader.data.policy.status! } }];
    leader.watchFailsWith = { code: status.UNAVAILABLE, details: 'going away' };
    const c = follow([leader.address, standby.address]);
    const seen: CoordinatorEvent[] = [];
    let err: unknown;
    try {
      for await (const e of c.watchEvents()) seen.push(e);
    } catch (e) {
      err = e;
    }
    expect(seen).to.have.length(1);
    expect(err).to.be.instanceOf(CoordinatorCallError);
    expect((err as CoordinatorCallError).details).to.equal('going away');
    expect(methods(standby)).to.deep.equal([]);
  });

  it('ends a call waiting to be tried again when closed, and opens no channel after', async () => {
    standby.standbyOf = '';
    const c = new FollowingCoordinatorClient([dead, standby.address], credentials.createInsecure(), { backoffMs: { initial: 5000, max: 5000 } });
    const started = Date.now();
    const pending = failure(c.applyPolicy('x'));
    await new Promise((r) => setTimeout(r, 300));
    c.close();
    const err = await pending;
    expect(Date.now() - started).to.be.below(2000);
    expect(err.code).to.equal(status.UNAVAILABLE);
    const after = await c.status().then(() => undefined, (e: unknown) => e);
    expect((after as Error).message).to.match(/shut down/);
  });

  it('serves WatchEvents from a standby, and moves it when its coordinator is dead', async () => {
    const c = follow([dead, standby.address]);
    const abort = new AbortController();
    const iterator = c.watchEvents(abort.signal)[Symbol.asyncIterator]();
    const first = iterator.next();
    await new Promise((r) => setTimeout(r, 300));
    expect(methods(standby)).to.deep.equal(['WatchEvents']);
    abort.abort();
    const end = await first.then(() => undefined, (e: unknown) => e);
    expect((end as CoordinatorCallError | undefined)?.code).to.equal(status.CANCELLED);
  });
});
