import { expect } from 'chai';
import fc from 'fast-check';
import { checkPeriod, parseTimeArg, usageSlice, usageSlices, usageTotals } from '../../../../coordinator/accounting/usage-period.js';
import type { UsageRecord } from '../../../../coordinator/store/records.js';

const rec = (id: string, startMs: number, endMs: number, extra: Partial<UsageRecord> = {}): UsageRecord => ({
  id, vo: 'bio', node: `vwn-${id}`, host: 'phys-01', imageUrl: 'http://repo/bio.qcow2', imageSha256: 'ab'.repeat(32), applianceId: '',
  vcpus: 2, memoryMb: 1024, startMs, endMs, status: endMs ? 'removed' : 'running', startOperationId: id, endOperationId: '', ...extra,
});

/** A record: a start in [0, 1000), and an end after it, or 0 (still running). */
const arbRecord = fc.record({
  start: fc.integer({ min: 0, max: 999 }),
  length: fc.integer({ min: 1, max: 1000 }),
  running: fc.boolean(),
  vcpus: fc.integer({ min: 1, max: 8 }),
}).map(({ start, length, running, vcpus }) => ({ start, end: running ? 0 : start + length, vcpus }));

describe('coordinator/accounting/usage-period', () => {
  it('cuts a VM running across both bounds at the period, and counts a running one up to min(now, until)', () => {
    const period = { sinceMs: 100, untilMs: 200 };
    expect(usageSlice(rec('a', 50, 250), period, 1000)).to.deep.include({ fromMs: 100, toMs: 200, wallMs: 100, cpuMs: 200, status: 'running' });
    expect(usageSlice(rec('b', 150, 180), period, 1000)).to.deep.include({ fromMs: 150, toMs: 180, wallMs: 30, status: 'removed' });
    expect(usageSlice(rec('c', 150, 0), period, 170)).to.deep.include({ toMs: 170, wallMs: 20, status: 'running' });
    expect(usageSlice(rec('d', 150, 0), period, 1000)).to.deep.include({ toMs: 200, wallMs: 50 });
    expect(usageSlice(rec('e', 50, 100), period, 1000), 'ended at since').to.equal(undefined);
    expect(usageSlice(rec('f', 200, 300), period, 1000), 'started at until').to.equal(undefined);
    expect(usageSlice(rec('g', 150, 200), period, 1000)?.status, 'ended at until: ended inside').to.equal('removed');
  });

  it('property: the slices of adjacent periods sum to the slice of their union (nothing lost, nothing counted twice)', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 20 }), fc.integer({ min: 0, max: 2000 }), fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 3000 }), (raw, since, lengths, now) => {
        const records = raw.map((r, i) => rec(`r${i}`, r.start, r.end, { vcpus: r.vcpus }));
        const bounds = lengths.reduce((acc, l) => [...acc, acc.at(-1)! + l], [since]);
        const whole = usageTotals(usageSlices(records, { sinceMs: bounds[0]!, untilMs: bounds.at(-1)! }, now));
        let wall = 0;
        let cpu = 0;
        for (let i = 0; i + 1 < bounds.length; i++) {
          const t = usageTotals(usageSlices(records, { sinceMs: bounds[i]!, untilMs: bounds[i + 1]! }, now));
          wall += t.wallMs;
          cpu += t.cpuMs;
        }
        expect(wall).to.equal(whole.wallMs);
        expect(cpu).to.equal(whole.cpuMs);
      }),
      { numRuns: 500 },
    );
  });

  it('property: over a period covering every life, each VM counts its whole wall time (running ones up to now)', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 20 }), fc.integer({ min: 2000, max: 3000 }), (raw, now) => {
        const records = raw.map((r, i) => rec(`r${i}`, r.start, r.end, { vcpus: r.vcpus }));
        const t = usageTotals(usageSlices(records, { sinceMs: 0, untilMs: 10_000 }, now));
        expect(t.vms).to.equal(records.length);
        expect(t.wallMs).to.equal(records.reduce((sum, r) => sum + ((r.endMs || now) - r.startMs), 0));
      }),
    );
  });

  it('keeps one VO when asked, sorted by start', () => {
    const records = [rec('b', 20, 30, { vo: 'phys' }), rec('a', 10, 40), rec('c', 5, 0)];
    expect(usageSlices(records, { sinceMs: 0, untilMs: 100 }, 50, 'bio').map((s) => s.record.id)).to.deep.equal(['c', 'a']);
  });

  const now = Date.parse('2025-06-15T12:00:00Z');
  for (const [text, expected] of [
    ['now', now],
    ['24h', now - 86_400_000],
    ['90m', now - 5_400_000],
    ['1h30m', now - 5_400_000],
    ['7d', now - 7 * 86_400_000],
    ['2025-06-01', Date.parse('2025-06-01T00:00:00Z')],
    ['2025-06-01T12:30:00Z', Date.parse('2025-06-01T12:30:00Z')],
    ['2025-06-01T12:30', Date.parse('2025-06-01T12:30:00Z')],
    ['2025-06-01T12:30:00+02:00', Date.parse('2025-06-01T10:30:00Z')],
  ] as const) {
    it(`reads --since ${text}`, () => expect(parseTimeArg('--since', text, now)).to.equal(expected));
  }
  for (const bad of ['yesterday', '24', '-1h', '2025-13-45', '']) {
    it(`refuses --since "${bad}" naming the flag`, () => expect(() => parseTimeArg('--since', bad, now)).to.throw(RangeError, /--since/));
  }
  it('refuses a period that ends before it starts', () => {
    expect(() => checkPeriod({ sinceMs: 10, untilMs: 10 })).to.throw(/before --until/);
  });
});
