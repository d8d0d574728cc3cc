import { expect } from 'chai';
import { createServer } from 'node:net';
import { CannedCoordinatorDouble } from '../../../helpers/coordinator-double.js';
import { vonode } from '../../../helpers/run-vonode-cli.js';

/** A loopback address nothing listens on. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

// The CLI (spawned) given every coordinator of an HA site: TEST DOUBLES of a
// leader and of a standby that refuses writes naming it, plus a dead address.
describe('vonode CLI (spawned) with --coordinator listing several coordinators', function () {
  this.timeout(30_000);
  let leader: CannedCoordinatorDouble;
  let standby: CannedCoordinatorDouble;
  let dead: string;
  before(async () => {
    leader = new CannedCoordinatorDouble();
    standby = new CannedCoordinatorDouble();
    await leader.start();
    await standby.start();
    standby.standbyOf = leader.address;
    dead = await deadAddress();
    standby.data.status.cluster = {
      store: 'etcd', role: 'standby', self: standby.address, leader: leader.address, term: 57,
      coordinators: [{ address: leader.address, role: 'leader', term: 57 }, { address: standby.address, role: 'standby', term: 58 }],
      storeMembers: [{ name: 'etcd-1', endpoint: 'http://127.0.0.1:2379', healthy: true, isLeader: true, error: '', raftIndex: 9 }],
      storeError: '',
    };
  });
  after(async () => {
    await leader.stop();
    await standby.stop();
  });

  it('status: answered past a dead coordinator by a standby, which it names, with the Coordinators section; --json has the cluster', async () => {
    const r = await vonode(['--insecure', '--coordinator', `${dead},${standby.address}`, 'status']);
    expect(r.code, r.err).to.equal(0);
    expect(r.out.split('\n')[0]).to.include(`(coordinator ${standby.address}, up `);
    expect(r.out).to.include(`\nCoordinators\nstore        etcd, 1 of 1 members healthy\nanswered by  ${standby.address} (standby)\nleader       ${leader.address}, term 57\n`);
    const json = await vonode(['--insecure', 'status', '--json'], { VONODE_COORDINATOR: `${dead}, ${standby.address}` });
    expect(json.code, json.err).to.equal(0);
    expect((JSON.parse(json.out) as { cluster: { leader: string } }).cluster.leader).to.equal(leader.address);
  });

  it('deploy: a write refused by the standby goes to the leader it names', async () => {
    const before = leader.calls.length;
    const r = await vonode(['--insecure', '--coordinator', `${dead},${standby.address},${leader.address}`, 'deploy', '--vo', 'bio']);
    expect(r.code, r.err).to.equal(0);
    expect(leader.calls.slice(before).map((c) => c.method)).to.deep.equal(['DeployNodes']);
    expect(standby.calls.some((c) => c.method === 'DeployNodes')).to.equal(true);
  });

  it('exits 2 on an empty element of the list, naming it', async () => {
    const r = await vonode(['--insecure', '--coordinator', `${leader.address},,${standby.address}`, 'status']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/element 2 of --coordinator ".*" is empty/);
  });

  it('says every coordinator is unreachable, naming each, when none answers', async () => {
    const other = await deadAddress();
    const r = await vonode(['--insecure', '--coordinator', `${dead},${other}`, 'hosts']);
    expect(r.code).to.equal(1);
    expect(r.err).to.include(`cannot reach any coordinator of ${dead}, ${other}`);
    expect(r.err).to.include(`no coordinator of ${dead}, ${other} took the call`);
  });
});
