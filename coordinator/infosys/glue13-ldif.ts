import { InvalidArgumentError } from '../../shared/errors.js';
import { formatLdif, rdn, validateDn, type LdifEntry, type LdifValue } from './ldif-writer.js';
import type { SiteSnapshot, VoSnapshot } from './site-snapshot.js';

// GLUE 1.3 (Debian glue-schema: Glue-CORE.schema, Glue-CE.schema) of a vonode
// site, for older brokers (GridWay's gw_im_mad_bdii.pl, gLite WMS), laid out
// as the BDII recipe does:
//
//   GlueClusterUniqueID=<host>                                   GlueCluster
//     GlueSubClusterUniqueID=<host>_<queue>                      GlueSubCluster (one per VO queue)
//   GlueCEUniqueID=<host>:2119/jobmanager-<lrms>-<queue>         GlueCE (one per VO queue), VO:<vo>
//
// GLUE 1.3 strings are IA5 (ASCII): anything else is refused, not encoded.

/** Where a resource BDII publishes GLUE 1.3 (GridWay's MAD looks under mds-vo-name=local,o=grid). */
export const GLUE13_RESOURCE_SUFFIX = 'mds-vo-name=local,o=grid';

/** How the site is named in GLUE 1.3. */
export interface Glue13Options {
  /** DN the entries hang under (default GLUE13_RESOURCE_SUFFIX). */
  suffix?: string;
  /** Host name of the front-end used in the CE IDs (default: the site name). */
  ceHost?: string;
  /** The batch system (GlueCEInfoLRMSType, part of the CE ID; default sge). */
  lrms?: string;
}

const IA5_ID = /^[\x21-\x7e]+$/;

/** Throws InvalidArgumentError unless `value` is printable ASCII without spaces (an IA5 ID part). */
function checkIa5(field: string, value: string): string {
  if (!IA5_ID.test(value)) throw new InvalidArgumentError(field, `"${value}" must be printable ASCII without spaces (GLUE 1.3 IDs are IA5 strings)`);
  return value;
}

function entry(dn: string, classes: readonly string[], attributes: ReadonlyArray<readonly [string, LdifValue]>): LdifEntry {
  return { dn, attributes: [...classes.map((c) => ['objectClass', c] as const), ...attributes, ['GlueSchemaVersionMajor', 1], ['GlueSchemaVersionMinor', 3]] };
}

const ceId = (host: string, lrms: string, vo: VoSnapshot): string => `${host}:2119/jobmanager-${lrms}-${checkIa5('queue', vo.queue)}`;

function cluster(host: string, lrms: string, vos: readonly VoSnapshot[], suffix: string): LdifEntry {
  return entry(`${rdn('GlueClusterUniqueID', host)},${suffix}`, ['GlueClusterTop', 'GlueCluster', 'GlueInformationService', 'GlueKey', 'GlueSchemaVersion'], [
    ['GlueClusterUniqueID', host],
    ['GlueClusterName', host],
    ...vos.map((v) => ['GlueForeignKey', `GlueCEUniqueID=${ceId(host, lrms, v)}`] as const),
  ]);
}

function computingElement(host: string, lrms: string, vo: VoSnapshot, suffix: string): LdifEntry {
  const id = ceId(host, lrms, vo);
  return entry(`${rdn('GlueCEUniqueID', id)},${suffix}`, [
    'GlueCETop', 'GlueCE', 'GlueCEInfo', 'GlueCEState', 'GlueCEPolicy', 'GlueCEAccessControlBase', 'GlueInformationService', 'GlueKey', 'GlueSchemaVersion',
  ], [
    ['GlueCEUniqueID', id],
    ['GlueCEName', vo.queue],
    ['GlueCEHostingCluster', host],
    ['GlueCEInfoHostName', host],
    ['GlueCEInfoLRMSType', lrms],
    ['GlueCEInfoJobManager', lrms],
    ['GlueCEInfoGatekeeperPort', '2119'],
    ['GlueCEInfoContactString', id],
    ['GlueCEInfoTotalCPUs', vo.slots.total],
    // Always Production: a VO with no node yet still gets nodes on demand, and brokers skip other states.
    ['GlueCEStateStatus', 'Production'],
    ['GlueCEStateTotalJobs', vo.jobs.total],
    ['GlueCEStateRunningJobs', vo.jobs.running],
    ['GlueCEStateWaitingJobs', vo.jobs.waiting],
    ['GlueCEStateFreeCPUs', vo.slots.free],
    ['GlueCEStateFreeJobSlots', vo.slots.free],
    ['GlueCEPolicyMaxRunningJobs', vo.slots.max],
    ['GlueCEPolicyAssignedJobSlots', vo.slots.total],
    ['GlueCEPolicyMaxSlotsPerJob', vo.slotsPerNode],
    ['GlueCEAccessControlBaseRule', `VO:${checkIa5('vo', vo.vo)}`],
    ['GlueForeignKey', `GlueClusterUniqueID=${host}`],
  ]);
}

function subCluster(host: string, vo: VoSnapshot, clusterDn: string): LdifEntry {
  const id = `${host}_${vo.queue}`;
  const cpus = (vo.nodes.running + vo.nodes.draining) * vo.vm.vcpus;
  return entry(`${rdn('GlueSubClusterUniqueID', id)},${clusterDn}`, [
    'GlueClusterTop', 'GlueSubCluster', 'GlueHostArchitecture', 'GlueHostMainMemory', 'GlueKey', 'GlueSchemaVersion',
  ], [
    ['GlueSubClusterUniqueID', id],
    ['GlueSubClusterName', id],
    ['GlueSubClusterPhysicalCPUs', cpus],
    ['GlueSubClusterLogicalCPUs', cpus],
    ['GlueHostArchitecturePlatformType', 'x86_64'],
    ['GlueHostArchitectureSMPSize', vo.vm.vcpus],
    ['GlueHostMainMemoryRAMSize', vo.vm.memoryMb],
    ['GlueChunkKey', `GlueClusterUniqueID=${host}`],
  ]);
}

/**
 * The GLUE 1.3 entries of the site, parents before children: the cluster,
 * then per VO queue its CE and subcluster. Throws InvalidArgumentError for a
 * suffix that is not a DN or an ID part that is not IA5 without spaces.
 */
export function glue13Entries(snapshot: SiteSnapshot, options: Glue13Options = {}): LdifEntry[] {
  const suffix = validateDn('glue13 suffix', options.suffix ?? GLUE13_RESOURCE_SUFFIX);
  const host = checkIa5('ceHost', options.ceHost ?? snapshot.site);
  const lrms = checkIa5('lrms', options.lrms ?? 'sge');
  const top = cluster(host, lrms, snapshot.vos, suffix);
  return [
    top,
    ...snapshot.vos.flatMap((vo) => [computingElement(host, lrms, vo, suffix), subCluster(host, vo, top.dn)]),
  ];
}

/** The GLUE 1.3 LDIF of the site (see glue13Entries); deterministic. Throws InvalidArgumentError. */
export function glue13Ldif(snapshot: SiteSnapshot, options: Glue13Options = {}): string {
  return formatLdif(glue13Entries(snapshot, options));
}
