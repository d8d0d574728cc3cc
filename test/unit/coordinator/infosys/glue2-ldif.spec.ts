import { expect } from 'chai';
import { GLUE2_RESOURCE_SUFFIX, glue2Entries, glue2Ldif } from '../../../../coordinator/infosys/glue2-ldif.js';
import type { SiteSnapshot, VoSnapshot } from '../../../../coordinator/infosys/site-snapshot.js';
import { InvalidArgumentError } from '../../../../shared/errors.js';
import { installedSchema, schemaProblems } from '../../../helpers/ldap-schema.js';
import { dnKey, parentKey, parseDn, parseLdif, single, type ParsedEntry } from '../../../helpers/ldif-parser.js';

const bio: VoSnapshot = {
  vo: 'bio', queue: 'bio.q', weight: 2, nodes: { running: 2, deploying: 1, draining: 1 }, slotsPerNode: 2,
  vm: { vcpus: 1, memoryMb: 512 }, slots: { total: 6, free: 3, max: 100 }, jobs: { total: 4, running: 1, waiting: 3 },
};
const fusion: VoSnapshot = {
  vo: 'fusion', queue: 'fusion.q', weight: 5, nodes: { running: 0, deploying: 0, draining: 0 }, slotsPerNode: 1,
  vm: { vcpus: 2, memoryMb: 1024 }, slots: { total: 0, free: 0, max: 50 }, jobs: { total: 0, running: 0, waiting: 0 },
};
const site: SiteSnapshot = { site: 'test-site', vos: [bio, fusion] };

const SVC = 'GLUE2ServiceID=test-site_ComputingService,GLUE2GroupID=resource,o=glue';
const MGR = `GLUE2ManagerID=test-site_ComputingManager,${SVC}`;
const BIO_SHARE = `GLUE2ShareID=bio.q_bio_test-site_ComputingService,${SVC}`;

const byDn = (entries: ParsedEntry[], dn: string): ParsedEntry => {
  const e = entries.find((x) => dnKey(x.dn) === dnKey(dn));
  if (!e) throw new Error(`no entry ${dn}; have ${entries.map((x) => x.dn).join('\n')}`);
  return e;
};
const ofClass = (entries: ParsedEntry[], oc: string): ParsedEntry[] => entries.filter((e) => e.attrs.get('objectclass')?.includes(oc));

describe('GLUE 2.0 LDIF of a site snapshot', () => {
  it('writes AdminDomain, ComputingService, ComputingManager, then per VO a ComputingShare, its MappingPolicy and an ExecutionEnvironment', () => {
    expect(glue2Entries(site).map((e) => [e.dn, e.attributes.filter(([n]) => n === 'objectClass').map(([, v]) => v)])).to.deep.equal([
      ['GLUE2DomainID=test-site,GLUE2GroupID=resource,o=glue', ['GLUE2Domain', 'GLUE2AdminDomain']],
      [SVC, ['GLUE2Service', 'GLUE2ComputingService']],
      [MGR, ['GLUE2Manager', 'GLUE2ComputingManager']],
      [BIO_SHARE, ['GLUE2Share', 'GLUE2ComputingShare']],
      [`GLUE2PolicyID=bio.q_bio_test-site_ComputingService_policy,${BIO_SHARE}`, ['GLUE2Policy', 'GLUE2MappingPolicy']],
      [`GLUE2ResourceID=test-site_bio.q_vonode,${MGR}`, ['GLUE2Resource', 'GLUE2ExecutionEnvironment']],
      [`GLUE2ShareID=fusion.q_fusion_test-site_ComputingService,${SVC}`, ['GLUE2Share', 'GLUE2ComputingShare']],
      [`GLUE2PolicyID=fusion.q_fusion_test-site_ComputingService_policy,GLUE2ShareID=fusion.q_fusion_test-site_ComputingService,${SVC}`, ['GLUE2Policy', 'GLUE2MappingPolicy']],
      [`GLUE2ResourceID=test-site_fusion.q_vonode,${MGR}`, ['GLUE2Resource', 'GLUE2ExecutionEnvironment']],
    ]);
  });

  it('publishes the share, its mapping policy and execution environment exactly (counts from the snapshot)', () => {
    const text = glue2Ldif(site);
    const block = (dn: string): string => text.split('\n\n').find((b) => b.startsWith(`dn: ${dn}\n`))!;
    expect(block(BIO_SHARE)).to.equal([
      `dn: ${BIO_SHARE}`,
      'objectClass: GLUE2Share',
      'objectClass: GLUE2ComputingShare',
      'GLUE2ShareID: bio.q_bio_test-site_ComputingService',
      'GLUE2EntityName: bio on bio.q',
      'GLUE2EntityOtherInfo: VonodeShareWeight=2',
      'GLUE2EntityOtherInfo: VonodeNodesRunning=2',
      'GLUE2EntityOtherInfo: VonodeNodesDeploying=1',
      'GLUE2EntityOtherInfo: VonodeNodesDraining=1',
      'GLUE2ShareServiceForeignKey: test-site_ComputingService',
      'GLUE2ShareResourceForeignKey: test-site_bio.q_vonode',
      'GLUE2ComputingShareComputingServiceForeignKey: test-site_ComputingService',
      'GLUE2ComputingShareExecutionEnvironmentForeignKey: test-site_bio.q_vonode',
      'GLUE2ComputingShareMappingQueue: bio.q',
      'GLUE2ComputingShareServingState: production',
      'GLUE2ComputingShareMaxRunningJobs: 100',
      'GLUE2ComputingShareMaxSlotsPerJob: 2',
      'GLUE2ComputingShareTotalJobs: 4',
      'GLUE2ComputingShareRunningJobs: 1',
      'GLUE2ComputingShareWaitingJobs: 3',
      'GLUE2ComputingShareFreeSlots: 3',
      'GLUE2ComputingShareUsedSlots: 1',
    ].join('\n'));
    expect(block(`GLUE2PolicyID=bio.q_bio_test-site_ComputingService_policy,${BIO_SHARE}`)).to.equal([
      `dn: GLUE2PolicyID=bio.q_bio_test-site_ComputingService_policy,${BIO_SHARE}`,
      'objectClass: GLUE2Policy',
      'objectClass: GLUE2MappingPolicy',
      'GLUE2PolicyID: bio.q_bio_test-site_ComputingService_policy',
      'GLUE2PolicyScheme: org.glite.standard',
      'GLUE2PolicyRule: VO:bio',
      'GLUE2MappingPolicyShareForeignKey: bio.q_bio_test-site_ComputingService',
    ].join('\n'));
    expect(block(`GLUE2ResourceID=test-site_bio.q_vonode,${MGR}`)).to.equal([
      `dn: GLUE2ResourceID=test-site_bio.q_vonode,${MGR}`,
      'objectClass: GLUE2Resource',
      'objectClass: GLUE2ExecutionEnvironment',
      'GLUE2ResourceID: test-site_bio.q_vonode',
      'GLUE2EntityName: vonode bio worker nodes',
      'GLUE2ResourceManagerForeignKey: test-site_ComputingManager',
      'GLUE2ExecutionEnvironmentComputingManagerForeignKey: test-site_ComputingManager',
      'GLUE2ExecutionEnvironmentPlatform: amd64',
      'GLUE2ExecutionEnvironmentOSFamily: linux',
      'GLUE2ExecutionEnvironmentMainMemorySize: 512',
      'GLUE2ExecutionEnvironmentLogicalCPUs: 1',
      'GLUE2ExecutionEnvironmentConnectivityIn: FALSE',
      'GLUE2ExecutionEnvironmentConnectivityOut: TRUE',
      'GLUE2ExecutionEnvironmentVirtualMachine: TRUE',
      'GLUE2ExecutionEnvironmentTotalInstances: 3',
      'GLUE2ExecutionEnvironmentUnavailableInstances: 1',
    ].join('\n'));
  });

  it('sums the shares on the service and the manager', () => {
    const entries = parseLdif(glue2Ldif(site));
    const svc = byDn(entries, SVC);
    expect([single(svc, 'GLUE2ComputingServiceTotalJobs'), single(svc, 'GLUE2ComputingServiceRunningJobs'), single(svc, 'GLUE2ComputingServiceWaitingJobs')]).to.deep.equal(['4', '1', '3']);
    expect(single(svc, 'GLUE2ServiceComplexity')).to.equal('endpointType=0, share=2, resource=2');
    const mgr = byDn(entries, MGR);
    expect(single(mgr, 'GLUE2ManagerProductName')).to.equal('sge');
    expect(single(mgr, 'GLUE2ComputingManagerTotalSlots')).to.equal('6');
    expect(single(mgr, 'GLUE2ComputingManagerTotalLogicalCPUs')).to.equal('3');
  });

  it('reads back: one entry per DN, every parent is the suffix or an earlier entry, and every foreign key names an entry', () => {
    const entries = parseLdif(glue2Ldif(site, { endpoint: { url: 'https://ce.example.org:8443/jobs', interfaceName: 'org.ogf.drmaa' } }));
    const seen = new Set<string>([dnKey(GLUE2_RESOURCE_SUFFIX)]);
    for (const e of entries) {
      expect(seen.has(parentKey(e.dn)), `parent of ${e.dn}`).to.equal(true);
      expect(seen.has(dnKey(e.dn)), `duplicate ${e.dn}`).to.equal(false);
      seen.add(dnKey(e.dn));
      // The RDN value is the entry's own ID attribute.
      const [[name, value]] = parseDn(e.dn) as [[string, string]];
      expect(single(e, name)).to.equal(value);
    }
    const ids = (oc: string, attr: string): string[] => ofClass(entries, oc).map((e) => single(e, attr));
    const targets: Record<string, string[]> = {
      glue2serviceadmindomainforeignkey: ids('GLUE2AdminDomain', 'GLUE2DomainID'),
      glue2managerserviceforeignkey: ids('GLUE2Service', 'GLUE2ServiceID'),
      glue2shareserviceforeignkey: ids('GLUE2Service', 'GLUE2ServiceID'),
      glue2computingsharecomputingserviceforeignkey: ids('GLUE2Service', 'GLUE2ServiceID'),
      glue2endpointserviceforeignkey: ids('GLUE2Service', 'GLUE2ServiceID'),
      glue2shareresourceforeignkey: ids('GLUE2ExecutionEnvironment', 'GLUE2ResourceID'),
      glue2computingshareexecutionenvironmentforeignkey: ids('GLUE2ExecutionEnvironment', 'GLUE2ResourceID'),
      glue2resourcemanagerforeignkey: ids('GLUE2Manager', 'GLUE2ManagerID'),
      glue2mappingpolicyshareforeignkey: ids('GLUE2Share', 'GLUE2ShareID'),
      glue2shareendpointforeignkey: ids('GLUE2Endpoint', 'GLUE2EndpointID'),
      glue2accesspolicyendpointforeignkey: ids('GLUE2Endpoint', 'GLUE2EndpointID'),
      glue2computingsharecomputingendpointforeignkey: ids('GLUE2Endpoint', 'GLUE2EndpointID'),
      glue2computingendpointcomputingserviceforeignkey: ids('GLUE2Service', 'GLUE2ServiceID'),
      glue2computingmanagercomputingserviceforeignkey: ids('GLUE2Service', 'GLUE2ServiceID'),
      glue2executionenvironmentcomputingmanagerforeignkey: ids('GLUE2Manager', 'GLUE2ManagerID'),
    };
    let checked = 0;
    for (const e of entries) {
      for (const [attr, values] of e.attrs) {
        if (!attr.endsWith('foreignkey')) continue;
        for (const v of values) {
          expect(targets, 'a foreign key this test does not know').to.have.property(attr);
          expect(targets[attr], `${attr} of ${e.dn}`).to.include(v);
          checked++;
        }
      }
    }
    expect(checked).to.equal(24);
  });

  it('uses only classes and attributes that Debian glue-schema 2.0 defines, with every MUST attribute', function () {
    const schema = installedSchema(['/etc/ldap/schema/GLUE20.schema']);
    if (!schema) this.skip(); // the glue-schema package is not installed here
    const entries = parseLdif(glue2Ldif(site, { endpoint: { url: 'https://ce.example.org:8443/jobs', interfaceName: 'org.ogf.drmaa' } }));
    for (const e of entries) expect(schemaProblems(schema!, e), e.dn).to.deep.equal([]);
    expect(entries).to.have.length(11);
  });

  it('maps each share to its VO, and an endpoint (when given) is open to every VO', () => {
    const entries = parseLdif(glue2Ldif(site, { endpoint: { url: 'https://ce.example.org:8443/jobs', interfaceName: 'org.ogf.drmaa' } }));
    const rules = ofClass(entries, 'GLUE2MappingPolicy').map((p) => [single(p, 'GLUE2MappingPolicyShareForeignKey'), p.attrs.get('glue2policyrule')]);
    expect(rules).to.deep.equal([
      ['bio.q_bio_test-site_ComputingService', ['VO:bio']],
      ['fusion.q_fusion_test-site_ComputingService', ['VO:fusion']],
    ]);
    const [access] = ofClass(entries, 'GLUE2AccessPolicy');
    expect(access?.attrs.get('glue2policyrule')).to.deep.equal(['VO:bio', 'VO:fusion']);
    const [endpoint] = ofClass(entries, 'GLUE2ComputingEndpoint');
    expect(single(endpoint!, 'GLUE2EndpointURL')).to.equal('https://ce.example.org:8443/jobs');
    for (const share of ofClass(entries, 'GLUE2ComputingShare')) expect(single(share, 'GLUE2ShareEndpointForeignKey')).to.equal('test-site_org.ogf.drmaa');
    expect(ofClass(parseLdif(glue2Ldif(site)), 'GLUE2Endpoint')).to.deep.equal([]);
  });

  it('is deterministic: the same snapshot gives the same bytes, each entry ends with an empty line', () => {
    const a = glue2Ldif(site);
    expect(glue2Ldif(structuredClone(site))).to.equal(a);
    expect(a.endsWith('\n\n')).to.equal(true);
    expect(a).to.not.match(/\n\n\n/);
  });

  it('publishes an empty site (no VO) as service and manager with zero counts', () => {
    const entries = parseLdif(glue2Ldif({ site: 'empty', vos: [] }));
    expect(entries.map((e) => e.attrs.get('objectclass')![1])).to.deep.equal(['GLUE2AdminDomain', 'GLUE2ComputingService', 'GLUE2ComputingManager']);
    expect(single(entries[2]!, 'GLUE2ComputingManagerTotalSlots')).to.equal('0');
  });

  it('hangs everything under another suffix, names the front-end and the batch system when asked', () => {
    const entries = parseLdif(glue2Ldif(site, { suffix: 'GLUE2GroupID=resource,GLUE2DomainID=test-site,o=glue', ceHost: 'ce.example.org', lrms: 'slurm' }));
    for (const e of entries) expect(e.dn.endsWith(',GLUE2GroupID=resource,GLUE2DomainID=test-site,o=glue'), e.dn).to.equal(true);
    expect(single(ofClass(entries, 'GLUE2ComputingService')[0]!, 'GLUE2ServiceID')).to.equal('ce.example.org_ComputingService');
    expect(single(ofClass(entries, 'GLUE2ComputingManager')[0]!, 'GLUE2ManagerProductName')).to.equal('slurm');
    expect(() => glue2Ldif(site, { suffix: 'not a dn' })).to.throw(InvalidArgumentError, /suffix/);
  });

  describe('escaping', () => {
    it('escapes DN specials in RDN values and reads them back unchanged', () => {
      const text = glue2Ldif({ site: 'a,b+c;"<x>"=\\', vos: [] });
      expect(text).to.include('dn: GLUE2DomainID=a\\,b\\+c\\;\\"\\<x\\>\\"\\=\\\\,GLUE2GroupID=resource,o=glue\n');
      const [domain] = parseLdif(text);
      expect(parseDn(domain!.dn)[0]).to.deep.equal(['glue2domainid', 'a,b+c;"<x>"=\\']);
      expect(single(domain!, 'GLUE2DomainID')).to.equal('a,b+c;"<x>"=\\');
    });

    it('base64-encodes values that are not RFC 2849 safe strings, escapes leading and trailing spaces in DNs', () => {
      const text = glue2Ldif({ site: ' :site ', vos: [] });
      expect(text).to.include('dn: GLUE2DomainID=\\ :site\\ ,GLUE2GroupID=resource,o=glue\n');
      expect(text).to.include(`GLUE2DomainID:: ${Buffer.from(' :site ').toString('base64')}\n`);
      const [domain] = parseLdif(text);
      expect(single(domain!, 'GLUE2EntityName')).to.equal(' :site ');
      const url = 'https://cé.example.org/jobs';
      const withEndpoint = glue2Ldif(site, { endpoint: { url, interfaceName: 'org.ogf.drmaa' } });
      expect(withEndpoint).to.include(`GLUE2EndpointURL:: ${Buffer.from(url, 'utf8').toString('base64')}\n`);
      expect(single(ofClass(parseLdif(withEndpoint), 'GLUE2Endpoint')[0]!, 'GLUE2EndpointURL')).to.equal(url);
    });

    it('refuses IDs that are not printable ASCII (BDII cannot read a base64 DN) and counts that are not whole numbers', () => {
      expect(() => glue2Ldif({ site: 'sïte', vos: [] })).to.throw(InvalidArgumentError, /site/);
      expect(() => glue2Ldif({ site: 'a\nb', vos: [] })).to.throw(InvalidArgumentError, /site/);
      expect(() => glue2Ldif({ site: 's', vos: [{ ...bio, queue: 'bïo.q' }] })).to.throw(InvalidArgumentError, /queue/);
      expect(() => glue2Ldif({ site: 's', vos: [{ ...bio, slots: { ...bio.slots, free: 1.5 } }] })).to.throw(InvalidArgumentError, /FreeSlots/);
      expect(() => glue2Ldif({ site: 's', vos: [{ ...bio, jobs: { ...bio.jobs, total: Number.NaN } }] })).to.throw(InvalidArgumentError, /TotalJobs/);
    });
  });
});
