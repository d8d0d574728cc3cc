import { expect } from 'chai';
import { GLUE13_RESOURCE_SUFFIX, glue13Entries, glue13Ldif } from '../../../../coordinator/infosys/glue13-ldif.js';
import type { SiteSnapshot, VoSnapshot } from '../../../../coordinator/infosys/site-snapshot.js';
import { InvalidArgumentError } from '../../../../shared/errors.js';
import { installedSchema, schemaProblems } from '../../../helpers/ldap-schema.js';
import { dnKey, parentKey, parseDn, parseLdif, single } from '../../../helpers/ldif-parser.js';

const bio: VoSnapshot = {
  vo: 'bio', queue: 'bio.q', weight: 2, nodes: { running: 2, deploying: 1, draining: 1 }, slotsPerNode: 2,
  vm: { vcpus: 1, memoryMb: 512 }, slots: { total: 6, free: 3, max: 100 }, jobs: { total: 4, running: 1, waiting: 3 },
};
const fusion: VoSnapshot = {
  vo: 'fusion', queue: 'fusion.q', weight: 5, nodes: { running: 0, deploying: 0, draining: 0 }, slotsPerNode: 1,
  vm: { vcpus: 2, memoryMb: 1024 }, slots: { total: 0, free: 0, max: 50 }, jobs: { total: 0, running: 0, waiting: 0 },
};
const site: SiteSnapshot = { site: 'test-site', vos: [bio, fusion] };
const BIO_CE = 'GlueCEUniqueID=test-site:2119/jobmanager-sge-bio.q,mds-vo-name=local,o=grid';
const CLUSTER = 'GlueClusterUniqueID=test-site,mds-vo-name=local,o=grid';

describe('GLUE 1.3 LDIF of a site snapshot', () => {
  it('writes the cluster, then per VO queue a GlueCE and a GlueSubCluster under the cluster', () => {
    expect(glue13Entries(site).map((e) => e.dn)).to.deep.equal([
      CLUSTER,
      BIO_CE,
      `GlueSubClusterUniqueID=test-site_bio.q,${CLUSTER}`,
      'GlueCEUniqueID=test-site:2119/jobmanager-sge-fusion.q,mds-vo-name=local,o=grid',
      `GlueSubClusterUniqueID=test-site_fusion.q,${CLUSTER}`,
    ]);
  });

  it('publishes the CE of a VO queue exactly: state from the snapshot, access for its VO only', () => {
    const block = glue13Ldif(site).split('\n\n').find((b) => b.startsWith(`dn: ${BIO_CE}\n`));
    expect(block).to.equal([
      `dn: ${BIO_CE}`,
      'objectClass: GlueCETop',
      'objectClass: GlueCE',
      'objectClass: GlueCEInfo',
      'objectClass: GlueCEState',
      'objectClass: GlueCEPolicy',
      'objectClass: GlueCEAccessControlBase',
      'objectClass: GlueInformationService',
      'objectClass: GlueKey',
      'objectClass: GlueSchemaVersion',
      'GlueCEUniqueID: test-site:2119/jobmanager-sge-bio.q',
      'GlueCEName: bio.q',
      'GlueCEHostingCluster: test-site',
      'GlueCEInfoHostName: test-site',
      'GlueCEInfoLRMSType: sge',
      'GlueCEInfoJobManager: sge',
      'GlueCEInfoGatekeeperPort: 2119',
      'GlueCEInfoContactString: test-site:2119/jobmanager-sge-bio.q',
      'GlueCEInfoTotalCPUs: 6',
      'GlueCEStateStatus: Production',
      'GlueCEStateTotalJobs: 4',
      'GlueCEStateRunningJobs: 1',
      'GlueCEStateWaitingJobs: 3',
      'GlueCEStateFreeCPUs: 3',
      'GlueCEStateFreeJobSlots: 3',
      'GlueCEPolicyMaxRunningJobs: 100',
      'GlueCEPolicyAssignedJobSlots: 6',
      'GlueCEPolicyMaxSlotsPerJob: 2',
      'GlueCEAccessControlBaseRule: VO:bio',
      'GlueForeignKey: GlueClusterUniqueID=test-site',
      'GlueSchemaVersionMajor: 1',
      'GlueSchemaVersionMinor: 3',
    ].join('\n'));
  });

  it('describes the nodes of each queue in its subcluster (CPUs = nodes up × vCPUs)', () => {
    const entries = parseLdif(glue13Ldif(site));
    const sub = entries.find((e) => dnKey(e.dn) === dnKey(`GlueSubClusterUniqueID=test-site_fusion.q,${CLUSTER}`))!;
    expect(single(sub, 'GlueSubClusterLogicalCPUs')).to.equal('0');
    expect(single(sub, 'GlueHostArchitectureSMPSize')).to.equal('2');
    expect(single(sub, 'GlueHostMainMemoryRAMSize')).to.equal('1024');
    const bioSub = entries.find((e) => dnKey(e.dn) === dnKey(`GlueSubClusterUniqueID=test-site_bio.q,${CLUSTER}`))!;
    expect(single(bioSub, 'GlueSubClusterPhysicalCPUs')).to.equal('3');
    expect(single(bioSub, 'GlueChunkKey')).to.equal('GlueClusterUniqueID=test-site');
  });

  it('reads back: parents first, RDN = own ID, cluster and CEs point at each other', () => {
    const entries = parseLdif(glue13Ldif(site));
    const seen = new Set<string>([dnKey(GLUE13_RESOURCE_SUFFIX)]);
    for (const e of entries) {
      expect(seen.has(parentKey(e.dn)), `parent of ${e.dn}`).to.equal(true);
      seen.add(dnKey(e.dn));
      const [[name, value]] = parseDn(e.dn) as [[string, string]];
      expect(single(e, name)).to.equal(value);
    }
    const ces = entries.filter((e) => e.attrs.get('objectclass')?.includes('GlueCE'));
    expect(entries[0]!.attrs.get('glueforeignkey')).to.deep.equal(ces.map((c) => `GlueCEUniqueID=${single(c, 'GlueCEUniqueID')}`));
    expect(ces.map((c) => single(c, 'GlueCEAccessControlBaseRule'))).to.deep.equal(['VO:bio', 'VO:fusion']);
  });

  it('uses only classes and attributes of Debian glue-schema (Glue-CORE, Glue-CE), with every MUST attribute', function () {
    const schema = installedSchema(['/etc/ldap/schema/Glue-CORE.schema', '/etc/ldap/schema/Glue-CE.schema']);
    if (!schema) this.skip(); // the glue-schema package is not installed here
    for (const e of parseLdif(glue13Ldif(site))) expect(schemaProblems(schema!, e), e.dn).to.deep.equal([]);
  });

  it('goes under another suffix (GridWay reads mds-vo-name=local,o=grid) with the front-end and batch system named', () => {
    const entries = parseLdif(glue13Ldif(site, { suffix: 'mds-vo-name=local,o=grid', ceHost: 'ce.example.org', lrms: 'slurm' }));
    for (const e of entries) expect(e.dn.endsWith(',mds-vo-name=local,o=grid'), e.dn).to.equal(true);
    expect(single(entries[1]!, 'GlueCEUniqueID')).to.equal('ce.example.org:2119/jobmanager-slurm-bio.q');
    expect(single(entries[1]!, 'GlueCEInfoLRMSType')).to.equal('slurm');
  });

  it('is deterministic and refuses what IA5 strings cannot hold', () => {
    expect(glue13Ldif(structuredClone(site))).to.equal(glue13Ldif(site));
    expect(() => glue13Ldif({ site: 'sïte', vos: [] })).to.throw(InvalidArgumentError, /ceHost/);
    expect(() => glue13Ldif({ site: 'my site', vos: [] })).to.throw(InvalidArgumentError, /ceHost/);
    expect(() => glue13Ldif(site, { lrms: 'grid engine' })).to.throw(InvalidArgumentError, /lrms/);
    expect(() => glue13Ldif({ site: 's', vos: [{ ...bio, vo: 'bïo' }] })).to.throw(InvalidArgumentError, /vo/);
    expect(() => glue13Ldif(site, { suffix: 'o=grid,' })).to.throw(InvalidArgumentError, /suffix/);
  });

  it('publishes a site without VOs as a bare cluster', () => {
    const entries = parseLdif(glue13Ldif({ site: 'empty', vos: [] }));
    expect(entries.map((e) => e.dn)).to.deep.equal(['GlueClusterUniqueID=empty,mds-vo-name=local,o=grid']);
    expect(entries[0]!.attrs.has('glueforeignkey')).to.equal(false);
  });
});
