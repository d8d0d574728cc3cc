import { InvalidArgumentError } from '../../shared/errors.js';
import { formatLdif, rdn, validateDn, type LdifEntry, type LdifValue } from './ldif-writer.js';
import type { SiteSnapshot, VoSnapshot } from './site-snapshot.js';

// GLUE 2.0 (GFD.147, LDAP rendering of Debian's glue-schema 2.0.11,
// /etc/ldap/schema/GLUE20.schema) of a vonode site, for a resource BDII:
//
//   GLUE2DomainID=<site>                                         AdminDomain
//   GLUE2ServiceID=<host>_ComputingService                       ComputingService
//     GLUE2ManagerID=<host>_ComputingManager                     ComputingManager
//       GLUE2ResourceID=<host>_<queue>_vonode                    ExecutionEnvironment (one per VO)
//     GLUE2EndpointID=<host>_<interface>                         ComputingEndpoint (optional)
//       GLUE2PolicyID=<endpoint>_policy                          AccessPolicy: VO:<each vo>
//     GLUE2ShareID=<queue>_<vo>_<service>                        ComputingShare (one per VO queue)
//       GLUE2PolicyID=<share>_policy                             MappingPolicy: VO:<vo>
//
// Every MUST attribute of each objectclass is set and only attributes the
// schema allows on it are used. No timestamps: the same snapshot gives the same
// bytes, so BDII's diff changes only what changed.

/** The DN under which a resource BDII publishes GLUE 2.0. */
export const GLUE2_RESOURCE_SUFFIX = 'GLUE2GroupID=resource,o=glue';

/** How the site is named and reached in GLUE 2.0. */
export interface Glue2Options {
  /** DN the entries hang under (default GLUE2_RESOURCE_SUFFIX). */
  suffix?: string;
  /** Host name of the front-end (the batch system's submit host) used in IDs (default: the site name). */
  ceHost?: string;
  /** The batch system (GLUE2ManagerProductName; default sge). */
  lrms?: string;
  /**
   * The job submission endpoint of the front-end, if it has one worth
   * publishing (vonode itself has none: jobs go to the batch system). Without
   * it no Endpoint or AccessPolicy entry is written.
   */
  endpoint?: { url: string; interfaceName: string };
}

/** The fixed IDs of one site's entries. */
interface Glue2Ids {
  suffix: string;
  site: string;
  host: string;
  service: string;
  manager: string;
  endpoint?: string;
  serviceDn: string;
  managerDn: string;
}

// IDs end up in DNs; printable ASCII keeps every DN a plain LDIF line, which
// BDII's updater needs (it cannot parse a base64 `dn::`).
const ID_TEXT = /^[\x20-\x7e]+$/;

/** Throws InvalidArgumentError unless `value` is usable in a GLUE ID (printable ASCII). */
export function checkGlueId(field: string, value: string): string {
  if (!ID_TEXT.test(value)) throw new InvalidArgumentError(field, `"${value}" must be printable ASCII, not empty`);
  return value;
}

function ids(snapshot: SiteSnapshot, options: Glue2Options): Glue2Ids {
  const suffix = validateDn('suffix', options.suffix ?? GLUE2_RESOURCE_SUFFIX);
  const site = checkGlueId('site', snapshot.site);
  const host = checkGlueId('ceHost', options.ceHost ?? snapshot.site);
  const service = `${host}_ComputingService`;
  const manager = `${host}_ComputingManager`;
  const serviceDn = `${rdn('GLUE2ServiceID', service)},${suffix}`;
  const endpoint = options.endpoint ? `${host}_${checkGlueId('endpoint.interfaceName', options.endpoint.interfaceName)}` : undefined;
  return { suffix, site, host, service, manager, serviceDn, managerDn: `${rdn('GLUE2ManagerID', manager)},${serviceDn}`, ...(endpoint ? { endpoint } : {}) };
}

const shareId = (vo: VoSnapshot, id: Glue2Ids): string => `${checkGlueId('queue', vo.queue)}_${checkGlueId('vo', vo.vo)}_${id.service}`;
const environmentId = (vo: VoSnapshot, id: Glue2Ids): string => `${id.host}_${vo.queue}_vonode`;
const sum = (vos: readonly VoSnapshot[], pick: (v: VoSnapshot) => number): number => vos.reduce((s, v) => s + pick(v), 0);

function entry(dn: string, classes: readonly string[], attributes: ReadonlyArray<readonly [string, LdifValue] | undefined>): LdifEntry {
  return {
    dn,
    attributes: [...classes.map((c) => ['objectClass', c] as const), ...attributes.filter((a): a is readonly [string, LdifValue] => a !== undefined)],
  };
}

function adminDomain(id: Glue2Ids): LdifEntry {
  return entry(`${rdn('GLUE2DomainID', id.site)},${id.suffix}`, ['GLUE2Domain', 'GLUE2AdminDomain'], [
    ['GLUE2DomainID', id.site],
    ['GLUE2EntityName', id.site],
    ['GLUE2AdminDomainDistributed', 'FALSE'],
  ]);
}

function computingService(id: Glue2Ids, vos: readonly VoSnapshot[]): LdifEntry {
  return entry(id.serviceDn, ['GLUE2Service', 'GLUE2ComputingService'], [
    ['GLUE2ServiceID', id.service],
    ['GLUE2EntityName', `vonode worker nodes of ${id.site}`],
    ['GLUE2ServiceType', 'org.vonode'],
    ['GLUE2ServiceQualityLevel', 'production'],
    ['GLUE2ServiceCapability', 'executionmanagement.jobexecution'],
    ['GLUE2ServiceComplexity', `endpointType=${id.endpoint ? 1 : 0}, share=${vos.length}, resource=${vos.length}`],
    ['GLUE2ServiceAdminDomainForeignKey', id.site],
    ['GLUE2ComputingServiceTotalJobs', sum(vos, (v) => v.jobs.total)],
    ['GLUE2ComputingServiceRunningJobs', sum(vos, (v) => v.jobs.running)],
    ['GLUE2ComputingServiceWaitingJobs', sum(vos, (v) => v.jobs.waiting)],
  ]);
}

function computingManager(id: Glue2Ids, vos: readonly VoSnapshot[], lrms: string): LdifEntry {
  return entry(id.managerDn, ['GLUE2Manager', 'GLUE2ComputingManager'], [
    ['GLUE2ManagerID', id.manager],
    ['GLUE2ManagerProductName', lrms],
    ['GLUE2ManagerServiceForeignKey', id.service],
    ['GLUE2ComputingManagerComputingServiceForeignKey', id.service],
    ['GLUE2ComputingManagerTotalSlots', sum(vos, (v) => v.slots.total)],
    ['GLUE2ComputingManagerTotalLogicalCPUs', sum(vos, (v) => (v.nodes.running + v.nodes.draining) * v.vm.vcpus)],
  ]);
}

function endpointEntries(id: Glue2Ids, vos: readonly VoSnapshot[], ep: NonNullable<Glue2Options['endpoint']>): LdifEntry[] {
  const endpointDn = `${rdn('GLUE2EndpointID', id.endpoint!)},${id.serviceDn}`;
  const policy = `${id.endpoint!}_policy`;
  return [
    entry(endpointDn, ['GLUE2Endpoint', 'GLUE2ComputingEndpoint'], [
      ['GLUE2EndpointID', id.endpoint!],
      ['GLUE2EndpointURL', ep.url],
      ['GLUE2EndpointCapability', 'executionmanagement.jobexecution'],
      ['GLUE2EndpointInterfaceName', ep.interfaceName],
      ['GLUE2EndpointQualityLevel', 'production'],
      ['GLUE2EndpointHealthState', 'ok'],
      ['GLUE2EndpointServingState', 'production'],
      ['GLUE2EndpointServiceForeignKey', id.service],
      ['GLUE2ComputingEndpointComputingServiceForeignKey', id.service],
    ]),
    entry(`${rdn('GLUE2PolicyID', policy)},${endpointDn}`, ['GLUE2Policy', 'GLUE2AccessPolicy'], [
      ['GLUE2PolicyID', policy],
      ['GLUE2PolicyScheme', 'org.glite.standard'],
      ...vos.map((v) => ['GLUE2PolicyRule', `VO:${v.vo}`] as const),
      ['GLUE2AccessPolicyEndpointForeignKey', id.endpoint!],
    ]),
  ];
}

function shareEntries(id: Glue2Ids, vo: VoSnapshot): LdifEntry[] {
  const share = shareId(vo, id);
  const env = environmentId(vo, id);
  const shareDn = `${rdn('GLUE2ShareID', share)},${id.serviceDn}`;
  const policy = `${share}_policy`;
  const ep = id.endpoint;
  return [
    entry(shareDn, ['GLUE2Share', 'GLUE2ComputingShare'], [
      ['GLUE2ShareID', share],
      ['GLUE2EntityName', `${vo.vo} on ${vo.queue}`],
      ['GLUE2EntityOtherInfo', `VonodeShareWeight=${vo.weight}`],
      ['GLUE2EntityOtherInfo', `VonodeNodesRunning=${vo.nodes.running}`],
      ['GLUE2EntityOtherInfo', `VonodeNodesDeploying=${vo.nodes.deploying}`],
      ['GLUE2EntityOtherInfo', `VonodeNodesDraining=${vo.nodes.draining}`],
      ['GLUE2ShareServiceForeignKey', id.service],
      ['GLUE2ShareResourceForeignKey', env],
      ep ? ['GLUE2ShareEndpointForeignKey', ep] : undefined,
      ['GLUE2ComputingShareComputingServiceForeignKey', id.service],
      ep ? ['GLUE2ComputingShareComputingEndpointForeignKey', ep] : undefined,
      ['GLUE2ComputingShareExecutionEnvironmentForeignKey', env],
      ['GLUE2ComputingShareMappingQueue', vo.queue],
      ['GLUE2ComputingShareServingState', 'production'],
      ['GLUE2ComputingShareMaxRunningJobs', vo.slots.max],
      ['GLUE2ComputingShareMaxSlotsPerJob', vo.slotsPerNode],
      ['GLUE2ComputingShareTotalJobs', vo.jobs.total],
      ['GLUE2ComputingShareRunningJobs', vo.jobs.running],
      ['GLUE2ComputingShareWaitingJobs', vo.jobs.waiting],
      ['GLUE2ComputingShareFreeSlots', vo.slots.free],
      ['GLUE2ComputingShareUsedSlots', Math.min(vo.jobs.running, vo.slots.total)],
    ]),
    entry(`${rdn('GLUE2PolicyID', policy)},${shareDn}`, ['GLUE2Policy', 'GLUE2MappingPolicy'], [
      ['GLUE2PolicyID', policy],
      ['GLUE2PolicyScheme', 'org.glite.standard'],
      ['GLUE2PolicyRule', `VO:${vo.vo}`],
      ['GLUE2MappingPolicyShareForeignKey', share],
    ]),
  ];
}

function executionEnvironment(id: Glue2Ids, vo: VoSnapshot): LdifEntry {
  const env = environmentId(vo, id);
  return entry(`${rdn('GLUE2ResourceID', env)},${id.managerDn}`, ['GLUE2Resource', 'GLUE2ExecutionEnvironment'], [
    ['GLUE2ResourceID', env],
    ['GLUE2EntityName', `vonode ${vo.vo} worker nodes`],
    ['GLUE2ResourceManagerForeignKey', id.manager],
    ['GLUE2ExecutionEnvironmentComputingManagerForeignKey', id.manager],
    ['GLUE2ExecutionEnvironmentPlatform', 'amd64'],
    ['GLUE2ExecutionEnvironmentOSFamily', 'linux'],
    ['GLUE2ExecutionEnvironmentMainMemorySize', vo.vm.memoryMb],
    ['GLUE2ExecutionEnvironmentLogicalCPUs', vo.vm.vcpus],
    ['GLUE2ExecutionEnvironmentConnectivityIn', 'FALSE'],
    ['GLUE2ExecutionEnvironmentConnectivityOut', 'TRUE'],
    ['GLUE2ExecutionEnvironmentVirtualMachine', 'TRUE'],
    ['GLUE2ExecutionEnvironmentTotalInstances', vo.nodes.running + vo.nodes.draining],
    ['GLUE2ExecutionEnvironmentUnavailableInstances', vo.nodes.draining],
  ]);
}

/**
 * The GLUE 2.0 entries of the site, parents before children (so ldapadd and
 * slapadd take them in order). Throws InvalidArgumentError for a suffix that
 * is not a DN or an ID part (site, host, VO, queue) that is not printable ASCII.
 */
export function glue2Entries(snapshot: SiteSnapshot, options: Glue2Options = {}): LdifEntry[] {
  const id = ids(snapshot, options);
  const lrms = options.lrms ?? 'sge';
  return [
    adminDomain(id),
    computingService(id, snapshot.vos),
    computingManager(id, snapshot.vos, lrms),
    ...(options.endpoint ? endpointEntries(id, snapshot.vos, options.endpoint) : []),
    ...snapshot.vos.flatMap((vo) => [...shareEntries(id, vo), executionEnvironment(id, vo)]),
  ];
}

/** The GLUE 2.0 LDIF of the site (see glue2Entries); deterministic. Throws InvalidArgumentError. */
export function glue2Ldif(snapshot: SiteSnapshot, options: Glue2Options = {}): string {
  return formatLdif(glue2Entries(snapshot, options));
}
