import { expect } from 'chai';
import { credentials } from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { connectionAddresses } from '../../../../coordinator/cli/connection.js';
import { UsageError } from '../../../../coordinator/cli/errors.js';
import { parseMadArgs } from '../../../../coordinator/gridway/mad-options.js';
import { CoordinatorSiteReader } from '../../../../coordinator/gridway/site-reader.js';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';
import type { ReportVisibilityRequest } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { CannedCoordinatorDouble } from '../../../helpers/coordinator-double.js';

/** A loopback address nothing listens on. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

describe('coordinator/gridway: the MAD given every coordinator of an HA site', () => {
  it('takes a comma-separated --coordinator (or VONODE_COORDINATOR) and refuses an empty element', () => {
    const cmd = parseMadArgs(['-c', 'c1.site:7080,c2.site:7080', '--insecure'], {});
    expect(cmd.help).to.equal(false);
    if (!cmd.help) expect(connectionAddresses(cmd.options.connection)).to.deep.equal(['c1.site:7080', 'c2.site:7080']);
    const fromEnv = parseMadArgs(['--insecure'], { VONODE_COORDINATOR: 'c1:7080,c2:7080,c3:7080' });
    if (!fromEnv.help) expect(connectionAddresses(fromEnv.options.connection)).to.have.length(3);
    expect(() => parseMadArgs(['-c', 'c1:7080,,c2:7080', '--insecure'], {})).to.throw(UsageError, /element 2 of --coordinator "c1:7080,,c2:7080" is empty/);
  });

  describe('CoordinatorSiteReader (real gRPC on loopback, TEST DOUBLES of a standby and its leader)', function () {
    this.timeout(20_000);
    let leader: CannedCoordinatorDouble;
    let standby: CannedCoordinatorDouble;
    let reader: CoordinatorSiteReader | undefined;
    beforeEach(async () => {
      leader = new CannedCoordinatorDouble();
      standby = new CannedCoordinatorDouble();
      leader.agentTerm = 57; // answers ReportVisibility
      await leader.start();
      await standby.start();
      standby.standbyOf = leader.address;
    });
    afterEach(async () => {
      reader?.close();
      await leader.stop();
      await standby.stop();
    });

    it('reads from the first coordinator that answers (a standby) and reports visibility to the leader it names', async () => {
      reader = new CoordinatorSiteReader([await deadAddress(), standby.address], credentials.createInsecure());
      expect((await reader.listNodes(2000)).map((n) => n.hostname)).to.deep.equal(['vo-bio-01', 'vo-bio-02', 'vo-fusion-01']);
      expect(await reader.listHosts(2000)).to.have.length(3);
      expect(await reader.policyText(2000)).to.match(/^vos:/);
      expect(standby.calls.map((c) => c.method)).to.deep.equal(['ListNodes', 'ListHosts', 'GetPolicy']);
      await reader.reportShown(['vo-bio-01'], 2000);
      const reports = leader.calls.filter((c) => c.method === 'ReportVisibility').map((c) => c.request as ReportVisibilityRequest);
      expect(reports).to.have.length(1);
      expect(reports[0]).to.deep.include({ phase: Phase.PHASE_GW, hostnames: ['vo-bio-01'] });
      expect(reports[0]!.reporter).to.match(/^vonode-gw-im-mad@/);
    });

    it('with one address behaves as before: a plain read at the leader', async () => {
      reader = new CoordinatorSiteReader([leader.address], credentials.createInsecure());
      expect(await reader.listNodes(2000)).to.have.length(3);
      expect(leader.calls.map((c) => c.method)).to.deep.equal(['ListNodes']);
    });
  });
});
