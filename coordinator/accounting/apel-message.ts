import type { UsageSlice } from './usage-period.js';

/** First line of every EGI/APEL cloud usage message. */
export const APEL_CLOUD_HEADER = 'APEL-cloud-message: v0.4';
/** Line that ends each record. */
export const APEL_RECORD_END = '%%';

/** Who the records are from (config `accounting.apel`). */
export interface ApelSite {
  /** GOCDB site name (SiteName). */
  siteName: string;
  /** The cloud resource within the site (CloudComputeService). */
  cloudComputeService: string;
  /** CloudType, e.g. vonode. */
  cloudType: string;
}

/** One cloud usage record (APEL-cloud-message v0.4): field name → value, in the order written. */
export type ApelRecord = Record<string, string>;

/**
 * The APEL record of one usage slice. APEL keeps the latest record of each
 * VMUUID (its durations are cumulative, from the VM's start), so a VM is
 * reported with its time from its start to the slice's end: messages of
 * adjacent periods replace each other at the server and never add up twice.
 *
 * Filled: VMUUID (the usage record id, unique per VM life), SiteName,
 * CloudComputeService, CloudType (config), MachineName (node hostname),
 * LocalGroupId (VO), FQAN (/VO), Status (started while it runs, completed
 * once ended), StartTime, EndTime (unix seconds; EndTime once ended),
 * WallDuration (s), CpuCount (vCPUs), CpuDuration (wall × vCPUs: allocated,
 * not measured), Memory (MiB), ImageId (appliance id, or the disk URL).
 * Left out (unknown to vonode): LocalUserId, GlobalUserName,
 * SuspendDuration, Network*, PublicIPCount, Disk, Benchmark*, StorageRecordId.
 */
export function apelRecord(slice: UsageSlice, site: ApelSite): ApelRecord {
  const r = slice.record;
  const wall = Math.floor((slice.toMs - r.startMs) / 1000);
  const ended = slice.status !== 'running';
  const rec: ApelRecord = {
    VMUUID: r.id,
    SiteName: site.siteName,
    CloudComputeService: site.cloudComputeService,
    MachineName: r.node,
    LocalGroupId: r.vo,
    FQAN: `/${r.vo}`,
    Status: ended ? 'completed' : 'started',
    StartTime: String(Math.floor(r.startMs / 1000)),
    EndTime: ended ? String(Math.floor(r.endMs / 1000)) : '',
    WallDuration: String(wall),
    CpuDuration: String(wall * r.vcpus),
    CpuCount: String(r.vcpus),
    Memory: String(r.memoryMb),
    ImageId: r.applianceId || r.imageUrl,
    CloudType: site.cloudType,
  };
  for (const [k, v] of Object.entries(rec)) if (v === '') delete rec[k];
  return rec;
}

/** A whole message: the header, then each record's `Field: value` lines ended by `%%`. Values are single-line. */
export function formatApelMessage(records: readonly ApelRecord[]): string {
  const lines = [APEL_CLOUD_HEADER];
  for (const rec of records) {
    for (const [k, v] of Object.entries(rec)) lines.push(`${k}: ${v.replace(/[\r\n]+/g, ' ')}`);
    lines.push(APEL_RECORD_END);
  }
  return `${lines.join('\n')}\n`;
}

/** Parses an APEL cloud message back into records. Throws SyntaxError naming the line. */
export function parseApelMessage(text: string): ApelRecord[] {
  const lines = text.split('\n');
  if (lines[0]?.trim() !== APEL_CLOUD_HEADER) throw new SyntaxError(`line 1: expected "${APEL_CLOUD_HEADER}", got "${lines[0] ?? ''}"`);
  const records: ApelRecord[] = [];
  let current: ApelRecord = {};
  lines.slice(1).forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === '') return;
    if (line === APEL_RECORD_END) {
      records.push(current);
      current = {};
      return;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SyntaxError(`line ${i + 2}: expected "Field: value" or %%, got "${line}"`);
    current[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  if (Object.keys(current).length) throw new SyntaxError('the last record is not ended by %%');
  return records;
}

/** What APEL would count from records: the latest record of each VMUUID (the largest WallDuration), summed. */
export interface ApelTotals {
  vms: number;
  wallSeconds: number;
  cpuSeconds: number;
}

/** Totals as the APEL server sees them: one (the latest) record per VMUUID. */
export function apelTotals(records: readonly ApelRecord[]): ApelTotals {
  const latest = new Map<string, ApelRecord>();
  for (const r of records) {
    const id = r['VMUUID'] ?? '';
    const known = latest.get(id);
    if (!known || Number(r['WallDuration'] ?? 0) >= Number(known['WallDuration'] ?? 0)) latest.set(id, r);
  }
  let wallSeconds = 0;
  let cpuSeconds = 0;
  for (const r of latest.values()) {
    wallSeconds += Number(r['WallDuration'] ?? 0);
    cpuSeconds += Number(r['CpuDuration'] ?? 0);
  }
  return { vms: latest.size, wallSeconds, cpuSeconds };
}
