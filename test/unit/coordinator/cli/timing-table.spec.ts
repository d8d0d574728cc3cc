import { expect } from 'chai';
import fc from 'fast-check';
import { formatSeconds } from '../../../../coordinator/cli/render/format.js';
import { buildTimingTable, mean, median, renderTimingTable, timingRows } from '../../../../coordinator/cli/render/timing-table.js';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { OperationKind, OperationState, type OperationTiming } from '../../../../shared/gen/vonode/v1/coordinator.js';

const S = OperationState.OPERATION_STATE_SUCCEEDED;
const F = OperationState.OPERATION_STATE_FAILED;

function timing(id: string, kind: OperationKind, state: OperationState, phases: Array<[Phase, number]>, totalMs?: number): OperationTiming {
  return {
    operation: { id, kind, state, vo: 'bio', node: `node-${id}`, host: 'phys01', attempt: 1, error: '', createdUnixMs: 0, finishedUnixMs: 0, trigger: 'manual' },
    phases: phases.map(([phase, durationMs]) => ({ phase, durationMs })),
    totalMs: totalMs ?? 0,
  };
}

// The paper's Table 2, one VM: CR 2, PT 96.8, DA 4.58, VMB 3, VMR 10.67, SR 1.5 (s).
const paperRow: Array<[Phase, number]> = [
  [Phase.PHASE_CR, 2000], [Phase.PHASE_PT, 96_800], [Phase.PHASE_DA, 4580], [Phase.PHASE_VMB, 3000], [Phase.PHASE_VMR, 10_670], [Phase.PHASE_SR, 1500],
];

describe('coordinator/cli/render/timing-table', () => {
  describe('mean and median', () => {
    const cases: Array<[number[], number, number]> = [
      [[4], 4, 4],
      [[1, 2, 3], 2, 2],
      [[3, 1, 2, 10], 4, 2.5],
      [[5, 5, 5, 5], 5, 5],
      [[118.58, 308.02, 495.88], 307.49333333333334, 308.02],
    ];
    for (const [values, m, med] of cases) {
      it(`of [${values.join(', ')}] are ${m} and ${med}`, () => {
        expect(mean(values)).to.be.closeTo(m, 1e-9);
        expect(median(values)).to.equal(med);
      });
    }

    it('are NaN for no values', () => {
      expect(mean([])).to.be.NaN;
      expect(median([])).to.be.NaN;
    });

    it('property: the median lies between min and max and does not depend on order', () => {
      fc.assert(
        fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 40 }), (values) => {
          const m = median(values);
          expect(m).to.be.at.least(Math.min(...values)).and.at.most(Math.max(...values));
          expect(median([...values].reverse())).to.equal(m);
        }),
      );
    });
  });

  describe('formatSeconds', () => {
    const cases: Array<[number, string]> = [
      [0, '0.00'], [12, '0.01'], [4580, '4.58'], [9994, '9.99'], [9996, '10.0'], [10_670, '10.7'], [96_800, '96.8'], [118_580, '118.6'], [NaN, '-'],
    ];
    for (const [ms, text] of cases) it(`prints ${ms} ms as ${text}`, () => expect(formatSeconds(ms)).to.equal(text));
  });

  it('keeps only deployments for Table 2, drains and removals for Table 3', () => {
    const ops = [
      timing('d1', OperationKind.OPERATION_KIND_DEPLOY, S, paperRow),
      timing('r1', OperationKind.OPERATION_KIND_REMOVE, S, [[Phase.PHASE_RC, 780]]),
      timing('n1', OperationKind.OPERATION_KIND_DRAIN, S, [[Phase.PHASE_RC, 880]]),
    ];
    expect(timingRows(ops, 'deploy').map((r) => r.operationId)).to.deep.equal(['d1']);
    expect(timingRows(ops, 'removal').map((r) => [r.operationId, r.kind])).to.deep.equal([['r1', 'remove'], ['n1', 'drain']]);
  });

  it('uses total_ms when set and the sum of phases otherwise; a repeated phase keeps its last duration', () => {
    const rows = timingRows(
      [
        timing('a', OperationKind.OPERATION_KIND_DEPLOY, S, [[Phase.PHASE_CR, 1000], [Phase.PHASE_PT, 2000]], 5000),
        timing('b', OperationKind.OPERATION_KIND_DEPLOY, S, [[Phase.PHASE_PT, 9000], [Phase.PHASE_PT, 2000], [Phase.PHASE_CR, 1000]]),
      ],
      'deploy',
    );
    expect(rows[0]!.totalMs).to.equal(5000);
    expect(rows[1]!.phases.get('PT')).to.equal(2000);
    expect(rows[1]!.totalMs).to.equal(3000);
  });

  it('computes mean and median per phase over succeeded operations only', () => {
    const table = buildTimingTable(
      [
        timing('a', OperationKind.OPERATION_KIND_DEPLOY, S, [[Phase.PHASE_PT, 1000], [Phase.PHASE_VMB, 3000]]),
        timing('b', OperationKind.OPERATION_KIND_DEPLOY, S, [[Phase.PHASE_PT, 2000], [Phase.PHASE_VMB, 5000]]),
        timing('c', OperationKind.OPERATION_KIND_DEPLOY, S, [[Phase.PHASE_PT, 6000]]),
        timing('failed', OperationKind.OPERATION_KIND_DEPLOY, F, [[Phase.PHASE_PT, 999_000]]),
      ],
      'deploy',
    );
    expect(table.statsOver).to.equal(3);
    expect(table.mean['PT']).to.equal(3000);
    expect(table.median['PT']).to.equal(2000);
    expect(table.mean['VMB']).to.equal(4000);
    expect(table.median['VMB']).to.equal(4000);
    expect(table.mean['GW']).to.be.NaN;
    expect(table.mean['Total']).to.be.closeTo((4000 + 7000 + 6000) / 3, 1e-9);
  });

  it('renders Table 2: NODE HOST VO CR PT DA VMB VMR SR PUB GW TOTAL, missing phases as -, then mean and median', () => {
    const lines = renderTimingTable(buildTimingTable([timing('d1', OperationKind.OPERATION_KIND_DEPLOY, S, paperRow)], 'deploy'));
    expect(lines[0]!.split(/\s+/)).to.deep.equal(['NODE', 'HOST', 'VO', 'CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW', 'TOTAL']);
    expect(lines[1]!.split(/\s+/)).to.deep.equal(['node-d1', 'phys01', 'bio', '2.00', '96.8', '4.58', '3.00', '10.7', '1.50', '-', '-', '118.6']);
    expect(lines[2]!.split(/\s+/)).to.deep.equal(['mean', '2.00', '96.8', '4.58', '3.00', '10.7', '1.50', '-', '-', '118.6']);
    expect(lines[3]!.startsWith('median')).to.equal(true);
    expect(lines.at(-1)).to.match(/over 1 succeeded deployments of 1/);
  });

  it('renders Table 3 with DRN (batch-system drain) RC VMD DHR DKR, then other phases that removals reported, and a STATE column for failures', () => {
    const table = buildTimingTable(
      [
        timing('r1', OperationKind.OPERATION_KIND_REMOVE, S, [[Phase.PHASE_DRN, 2100], [Phase.PHASE_RC, 780], [Phase.PHASE_VMD, 6220], [Phase.PHASE_PUB, 145_000]]),
        timing('r2', OperationKind.OPERATION_KIND_REMOVE, F, [[Phase.PHASE_RC, 670]]),
      ],
      'removal',
    );
    expect(table.phases).to.deep.equal(['DRN', 'RC', 'VMD', 'DHR', 'DKR', 'PUB']);
    const lines = renderTimingTable(table);
    expect(lines[0]!.split(/\s+/)).to.deep.equal(['NODE', 'HOST', 'VO', 'OP', 'DRN', 'RC', 'VMD', 'DHR', 'DKR', 'PUB', 'TOTAL', 'STATE']);
    expect(lines[1]!.split(/\s+/)).to.deep.equal(['node-r1', 'phys01', 'bio', 'remove', '2.10', '0.78', '6.22', '-', '-', '145.0', '154.1', 'succeeded']);
    expect(lines[2]!.split(/\s+/).at(-1)).to.equal('failed');
  });

  it('says so when there is nothing to show', () => {
    expect(renderTimingTable(buildTimingTable([], 'removal'))).to.deep.equal(['no drains/removals recorded yet']);
  });
});
