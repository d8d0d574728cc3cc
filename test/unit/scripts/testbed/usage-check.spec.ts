import { expect } from 'chai';
import { apelWallSeconds, usageAgreement, type UsageCheck } from '../../../../scripts/testbed/lib/usage-check.js';

/** A run of two lives (1.5 s and 2.9 s) where every format agrees. */
function agreeing(): UsageCheck {
  const lives = [
    { id: 'op-1', vo: 'bio', node: 'vwn-001', host: 'phys-01', endStatus: 'drained', wallMs: 1500 },
    { id: 'op-2', vo: 'fusion', node: 'vwn-002', host: 'phys-02', endStatus: 'drained', wallMs: 2900 },
  ];
  return {
    period: { sinceMs: 0, untilMs: 10_000 },
    lives,
    json: { vms: 2, wallMs: 4400 },
    csv: { vms: 2, wallMs: 4400 },
    table: { vms: 2, totalVms: 2, wallHours: '0.00', text: '' },
    apelCli: { vms: 2, wallSeconds: 3, cpuSeconds: 3 },
    apelWritten: { vms: 2, wallSeconds: 3, cpuSeconds: 3, messages: 2, completed: 2 },
  };
}

describe('scripts/testbed/lib/usage-check: the formats held against the JSON report', () => {
  it('counts APEL wall time in whole seconds per VM, as the records carry it', () => {
    expect(apelWallSeconds(agreeing().lives)).to.equal(3); // 1 + 2, not 4.4 rounded
  });

  it('agrees when every format says the same', () => {
    expect(usageAgreement(agreeing(), 2).filter((r) => !r.ok)).to.deep.equal([]);
  });

  it('names the format that disagrees', () => {
    const bad = (change: (u: UsageCheck) => void): string[] => {
      const u = agreeing();
      change(u);
      return usageAgreement(u, 2).filter((r) => !r.ok).map((r) => r.what);
    };
    expect(bad((u) => void (u.csv.wallMs = 4401))).to.deep.equal(['csv']);
    expect(bad((u) => void (u.table.wallHours = '0.01'))).to.deep.equal(['table']);
    expect(bad((u) => void (u.apelCli.wallSeconds = 4))).to.deep.equal(['apel (CLI), parsed back']);
    expect(bad((u) => void (u.apelWritten.completed = 1))).to.deep.equal(['APEL writer outgoing, parsed back']);
    expect(bad((u) => void (u.json.vms = 3))).to.include('VM lives (json)');
    expect(usageAgreement(agreeing(), 3).filter((r) => !r.ok).map((r) => r.what), 'a life missing from the records').to.deep.equal(['VM lives (json)']);
  });
});
