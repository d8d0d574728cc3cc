import { expect } from 'chai';
import { usageSlices } from '../../../../coordinator/accounting/usage-period.js';
import { renderUsageReport, usageReportToCsv, usageReportToJson, type UsageReport } from '../../../../coordinator/cli/render/usage-report.js';
import type { UsageRecord } from '../../../../coordinator/store/records.js';

const H = 3_600_000;
const T0 = Date.parse('2025-06-01T00:00:00Z');
const rec = (id: string, vo: string, startMs: number, endMs: number, extra: Partial<UsageRecord> = {}): UsageRecord => ({
  id, vo, node: `vwn-${id}`, host: 'phys-01', imageUrl: 'http://repo/a.qcow2', imageSha256: 'ab'.repeat(32), applianceId: '',
  vcpus: 2, memoryMb: 2048, startMs, endMs, status: endMs ? 'removed' : 'running', startOperationId: id, endOperationId: '', ...extra,
});

describe('coordinator/cli/render/usage-report', () => {
  const period = { sinceMs: T0, untilMs: T0 + 10 * H };
  const records = [rec('a', 'bio', T0 - H, T0 + 2 * H), rec('b', 'phys', T0 + H, 0, { imageUrl: 'http://repo/x,"y".qcow2' })];
  const report: UsageReport = { site: 'test-site', period, nowMs: T0 + 4 * H, vo: '', slices: usageSlices(records, period, T0 + 4 * H) };

  it('prints the slices and totals per VO and overall in hours', () => {
    const lines = renderUsageReport(report);
    expect(lines[0]).to.equal('usage of test-site from 2025-06-01T00:00:00.000Z to 2025-06-01T10:00:00.000Z');
    expect(lines.find((l) => l.startsWith('bio ') && l.includes('vwn-a'))).to.match(/removed\s+2h00m\s+a$/);
    expect(lines.find((l) => l.startsWith('total'))?.split(/\s+/)).to.deep.equal(['total', '2', '5.00', '10.00', '10.00']);
  });

  it('says so when no VM ran', () => {
    expect(renderUsageReport({ ...report, slices: [] }).at(-1)).to.equal('no VM ran in this period');
  });

  it('JSON and CSV carry the same records and totals; CSV quotes a field with a comma or quote (RFC 4180)', () => {
    const json = usageReportToJson(report) as { records: Array<{ id: string; wallMs: number; status: string }>; totals: { wallMs: number; vms: number } };
    expect(json.records.map((r) => [r.id, r.wallMs, r.status])).to.deep.equal([['a', 2 * H, 'removed'], ['b', 3 * H, 'running']]);
    expect(json.totals).to.include({ vms: 2, wallMs: 5 * H });
    const [header, a, b, end] = usageReportToCsv(report).split('\r\n');
    expect(header!.split(',')).to.include.members(['id', 'wallMs', 'cpuMs']);
    expect(a!.split(',')[0]).to.equal('a');
    expect(b).to.include('"http://repo/x,""y"".qcow2"');
    expect(end).to.equal('');
  });
});
