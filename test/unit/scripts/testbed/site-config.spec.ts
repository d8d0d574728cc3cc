import { expect } from 'chai';
import { stringify } from 'yaml';
import { parseCoordinatorConfig } from '../../../../coordinator/config.js';
import { policySchema } from '../../../../coordinator/policy/policy-schema.js';
import { guestCmdline, QUEUE, testbedCoordinatorConfig, testbedPolicy, VO_SOFTWARE, VOS } from '../../../../scripts/testbed/lib/site-config.js';

const file = (c: string) => ({ sha256: c.repeat(64), bytes: 1 });
const appliance = (c: string) => ({ files: { 'vmlinuz': file(c), 'initrd.gz': file(c), 'disk.qcow2': file(c) } });
const sge = { master: 'sge-master', masterIp: '10.130.0.1', cell: 'default', execdSpoolDir: '/tmp/vonode-e2e-x/sge/spool/execd' };

describe('testbed site configuration (scripts/testbed/lib/site-config.ts)', () => {
  const policyInput = {
    imageBase: 'http://10.130.0.1:8080', appliances: { bio: appliance('a'), fusion: appliance('b') },
    weights: { bio: 1, fusion: 2 }, poolSize: 6, vmMemory: '256MiB', idleBeforeDrain: '3s', sge,
  };

  it('makes a policy the coordinator accepts: each VO on its own appliance by URL and sha256, 1:2, its queue', () => {
    const policy = policySchema.parse(testbedPolicy(policyInput));
    expect(policy.vos.map((v) => [v.name, v.weight, v.queue, v.max])).to.deep.equal([['bio', 1, 'bio.q', 6], ['fusion', 2, 'fusion.q', 6]]);
    const bio = policy.vos[0]!.appliance;
    expect(bio.disk).to.deep.equal({ url: 'http://10.130.0.1:8080/bio/disk.qcow2', sha256: 'a'.repeat(64) });
    expect(bio.kernel?.url).to.equal('http://10.130.0.1:8080/bio/vmlinuz');
    expect(policy.vos[1]!.appliance.initrd?.sha256).to.equal('b'.repeat(64));
    expect(policy.vos[0]!.vm).to.deep.equal({ vcpus: 1, memoryMb: 256 });
    expect(policy.idleBeforeDrainMs).to.equal(3000);
  });

  it('tells the guest where the qmaster is on its kernel command line', () => {
    const line = guestCmdline(sge);
    for (const w of ['console=ttyS0', 'vonode.sge_master=sge-master', 'vonode.sge_master_ip=10.130.0.1', 'vonode.sge_cell=default', `vonode.sge_spool=${sge.execdSpoolDir}`]) {
      expect(line.split(' ')).to.include(w);
    }
  });

  it('makes a coordinator configuration the coordinator accepts: SGE, the BDII, GridWay, hooks, APEL, mutual TLS, the pool', () => {
    const pool = [{ hostname: 'vwn-001', ip: '10.130.0.101', mac: '52:54:00:13:00:01' }];
    const text = stringify(testbedCoordinatorConfig({
      dir: '/tmp/tb/coordinator', listen: '10.130.0.1:7080', policyFile: '/tmp/tb/coordinator/policy.yaml', pool,
      sgeRoot: '/tmp/tb/sge/root', sge, bdiiUrl: 'ldap://127.0.0.1:2170', pki: '/tmp/tb/pki',
      hookScript: '/tmp/tb/coordinator/record-hook-event', apelDir: '/tmp/tb/apel/outgoing',
    }));
    const c = parseCoordinatorConfig(text);
    expect(c.batchSystem?.kind).to.equal('sge');
    expect(c.batchSystem?.sge?.placeholderHost).to.equal('sge-master');
    expect(c.infosys?.ldapUrl).to.equal('ldap://127.0.0.1:2170');
    expect(c.gridway?.waitForMad).to.equal(true);
    expect(c.tls?.cert).to.equal('/tmp/tb/pki/coordinator.pem');
    expect(c.pool).to.deep.equal(pool);
    // Every hook event runs the recorder; the APEL writer fills the outgoing directory in 5 s periods.
    expect(Object.values(c.hooks?.events ?? {})).to.have.length(6);
    for (const scripts of Object.values(c.hooks?.events ?? {})) expect(scripts).to.deep.equal(['/tmp/tb/coordinator/record-hook-event']);
    expect(c.accounting?.apel).to.include({ dir: '/tmp/tb/apel/outgoing', interval: 5000, siteName: 'VONODE-TESTBED' });
  });

  it('gives each VO its own software, queue and a job answer', () => {
    for (const vo of VOS) {
      expect(QUEUE[vo]).to.equal(`${vo}.q`);
      expect(VO_SOFTWARE[vo].packages).to.not.be.empty;
      expect(VO_SOFTWARE[vo].answer).to.not.equal('');
    }
    expect(VO_SOFTWARE.bio.packages).to.not.include.members(VO_SOFTWARE.fusion.packages);
  });
});
