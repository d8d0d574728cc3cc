import { usageTotals, usageTotalsByVo, type UsagePeriod, type UsageSlice, type UsageTotals } from '../../accounting/usage-period.js';
import { formatDuration, formatTime, shortId } from './format.js';
import { renderTable, type Column } from './table.js';

/** What `vonode accounting` shows: the period and the slices of the records in it. */
export interface UsageReport {
  site: string;
  period: UsagePeriod;
  /** The coordinator's clock when it answered (running VMs count up to min(now, until)). */
  nowMs: number;
  vo: string;
  slices: UsageSlice[];
}

/** One slice as JSON and CSV print it (times ISO-8601 UTC, durations in ms). */
function sliceRow(s: UsageSlice): Record<string, string | number> {
  const r = s.record;
  return {
    id: r.id, vo: r.vo, node: r.node, host: r.host, vcpus: r.vcpus, memoryMb: r.memoryMb,
    imageUrl: r.imageUrl, imageSha256: r.imageSha256, applianceId: r.applianceId,
    start: formatTime(r.startMs), end: r.endMs ? formatTime(r.endMs) : '', status: s.status, endStatus: r.status,
    from: formatTime(s.fromMs), to: formatTime(s.toMs), wallMs: s.wallMs, cpuMs: s.cpuMs,
    startOperationId: r.startOperationId, endOperationId: r.endOperationId,
  };
}

/** The CSV columns, in order (the keys of a JSON record). */
export const USAGE_CSV_COLUMNS = [
  'id', 'vo', 'node', 'host', 'vcpus', 'memoryMb', 'imageUrl', 'imageSha256', 'applianceId', 'start', 'end', 'status', 'endStatus',
  'from', 'to', 'wallMs', 'cpuMs', 'startOperationId', 'endOperationId',
] as const;

const totalsJson = (t: UsageTotals): Record<string, number> => ({ vms: t.vms, wallMs: t.wallMs, cpuMs: t.cpuMs, memoryMbMs: t.memoryMbMs });

/** The report as JSON: the period, every record's slice and the totals (overall and per VO). */
export function usageReportToJson(r: UsageReport): Record<string, unknown> {
  return {
    site: r.site,
    since: formatTime(r.period.sinceMs),
    until: formatTime(r.period.untilMs),
    now: formatTime(r.nowMs),
    vo: r.vo || null,
    records: r.slices.map(sliceRow),
    totals: totalsJson(usageTotals(r.slices)),
    byVo: Object.fromEntries([...usageTotalsByVo(r.slices)].map(([vo, t]) => [vo, totalsJson(t)])),
  };
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function csvField(v: string | number): string {
  const text = String(v);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The report as CSV: a header line, then one line per record's slice (CRLF line ends, as RFC 4180). */
export function usageReportToCsv(r: UsageReport): string {
  const lines = [USAGE_CSV_COLUMNS.join(',')];
  for (const s of r.slices) {
    const row = sliceRow(s);
    lines.push(USAGE_CSV_COLUMNS.map((c) => csvField(row[c] ?? '')).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Hours with two decimals (the unit sites report in). */
function hours(ms: number): string {
  return (ms / 3_600_000).toFixed(2);
}

/** The report as text: one line per record's slice, then the totals per VO and overall. */
export function renderUsageReport(r: UsageReport): string[] {
  const head = [`usage of ${r.site} from ${formatTime(r.period.sinceMs)} to ${formatTime(r.period.untilMs)}${r.vo ? ` (VO ${r.vo})` : ''}`];
  if (r.slices.length === 0) return [...head, '', 'no VM ran in this period'];
  const columns: Column[] = [
    { header: 'VO' }, { header: 'NODE' }, { header: 'HOST' }, { header: 'VCPUS', right: true }, { header: 'MEM', right: true },
    { header: 'START' }, { header: 'END' }, { header: 'STATUS' }, { header: 'WALL', right: true }, { header: 'ID' },
  ];
  const rows = r.slices.map((s) => [
    s.record.vo, s.record.node, s.record.host || '-', String(s.record.vcpus), `${s.record.memoryMb}M`,
    formatTime(s.record.startMs), s.record.endMs ? formatTime(s.record.endMs) : '-', s.status, formatDuration(s.wallMs), shortId(s.record.id),
  ]);
  const totals: Column[] = [{ header: 'VO' }, { header: 'VMS', right: true }, { header: 'WALL-H', right: true }, { header: 'CPU-H', right: true }, { header: 'MEM-GIB-H', right: true }];
  const byVo = [...usageTotalsByVo(r.slices)].map(([vo, t]) => [vo, String(t.vms), hours(t.wallMs), hours(t.cpuMs), hours(t.memoryMbMs / 1024)]);
  const all = usageTotals(r.slices);
  byVo.push(['total', String(all.vms), hours(all.wallMs), hours(all.cpuMs), hours(all.memoryMbMs / 1024)]);
  return [...head, '', ...renderTable(columns, rows), '', ...renderTable(totals, byVo)];
}
