import { expect } from 'chai';
import fc from 'fast-check';
import { apelRecord, apelTotals, formatApelMessage, parseApelMessage } from '../../../../coordinator/accounting/apel-message.js';
import { usageSlices } from '../../../../coordinator/accounting/usage-period.js';
import type { UsageRecord } from '../../../../coordinator/store/records.js';

const site = { siteName: 'EXAMPLE-SITE', cloudComputeService: 'coord.example.org:7080', cloudType: 'vonode' };
const rec = (id: string, startMs: number, endMs: number, extra: Partial<UsageRecord> = {}): UsageRecord => ({
  id, vo: 'bio', node: `vwn-${id}`, host: 'phys-01', imageUrl: 'http://repo/bio.qcow2', imageSha256: 'ab'.repeat(32), applianceId: '',
  vcpus: 2, memoryMb: 1024, startMs, endMs, status: endMs ? 'drained' : 'running', startOperationId: id, endOperationId: '', ...extra,
});

describe('coordinator/accounting/apel-message', () => {
  it('writes an ended VM as a completed record and a running one as started, with cumulative durations in seconds', () => {
    const slices = usageSlices([rec('op-a.1', 1_000_000, 1_360_000), rec('op-b.1', 1_200_000, 0, { applianceId: 'https://appdb.example/vm/42', vcpus: 4 })], { sinceMs: 1_300_000, untilMs: 2_000_000 }, 1_900_000);
    const text = formatApelMessage(slices.map((s) => apelRecord(s, site)));
    expect(text.split('\n').slice(0, 17)).to.deep.equal([
      'APEL-cloud-message: v0.4',
      'VMUUID: op-a.1', 'SiteName: EXAMPLE-SITE', 'CloudComputeService: coord.example.org:7080', 'MachineName: vwn-op-a.1',
      'LocalGroupId: bio', 'FQAN: /bio', 'Status: completed', 'StartTime: 1000', 'EndTime: 1360', 'WallDuration: 360', 'CpuDuration: 720',
      'CpuCount: 2', 'Memory: 1024', 'ImageId: http://repo/bio.qcow2', 'CloudType: vonode', '%%',
    ]);
    const [, b] = parseApelMessage(text);
    expect(b).to.deep.include({ VMUUID: 'op-b.1', Status: 'started', WallDuration: '700', CpuDuration: '2800', ImageId: 'https://appdb.example/vm/42' });
    expect(b).to.not.have.property('EndTime');
  });

  it('round trip: a message parses back to its records and to the same totals', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ start: fc.integer({ min: 0, max: 1e6 }), length: fc.integer({ min: 1000, max: 1e7 }), running: fc.boolean(), vcpus: fc.integer({ min: 1, max: 64 }) }), { maxLength: 30 }), (raw) => {
        const records = raw.map((r, i) => rec(`op-${i}.1`, r.start, r.running ? 0 : r.start + r.length, { vcpus: r.vcpus, vo: i % 2 ? 'bio' : 'atlas' }));
        const slices = usageSlices(records, { sinceMs: 0, untilMs: 2e7 }, 2e7);
        const apel = slices.map((s) => apelRecord(s, site));
        const back = parseApelMessage(formatApelMessage(apel));
        expect(back).to.deep.equal(apel);
        const totals = apelTotals(back);
        expect(totals.vms).to.equal(records.length);
        expect(totals.wallSeconds).to.equal(slices.reduce((sum, s) => sum + Math.floor((s.toMs - s.record.startMs) / 1000), 0));
        expect(totals.cpuSeconds).to.equal(slices.reduce((sum, s) => sum + Math.floor((s.toMs - s.record.startMs) / 1000) * s.record.vcpus, 0));
      }),
    );
  });

  it('counts a VM once across the messages of adjacent periods, as APEL does (the latest record of each VMUUID)', () => {
    const records = [rec('op-a.1', 0, 0), rec('op-b.1', 30_000, 90_000)];
    const message = (sinceMs: number, untilMs: number): string => formatApelMessage(usageSlices(records, { sinceMs, untilMs }, untilMs).map((s) => apelRecord(s, site)));
    const all = [message(0, 60_000), message(60_000, 120_000)].flatMap(parseApelMessage);
    expect(all).to.have.length(4);
    expect(apelTotals(all)).to.deep.equal({ vms: 2, wallSeconds: 120 + 60, cpuSeconds: 2 * (120 + 60) });
  });

  it('refuses a message without its header or with a record not ended by %%, naming the line', () => {
    expect(() => parseApelMessage('VMUUID: x\n%%\n')).to.throw(SyntaxError, /line 1/);
    expect(() => parseApelMessage('APEL-cloud-message: v0.4\nVMUUID: x\n')).to.throw(SyntaxError, /%%/);
    expect(() => parseApelMessage('APEL-cloud-message: v0.4\nno colon\n%%\n')).to.throw(SyntaxError, /line 2/);
  });
});
