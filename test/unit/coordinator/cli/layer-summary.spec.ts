import { expect } from 'chai';
import {
  buildLayerSummary,
  gridVisibleMs,
  LAYERS,
  layerMs,
  layerSummaryToJson,
  renderLayerSummary,
  totalFormula,
} from '../../../../coordinator/cli/render/layer-summary.js';
import { timingRows, type TimingRow } from '../../../../coordinator/cli/render/timing-table.js';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { OperationKind, OperationState, type OperationTiming } from '../../../../shared/gen/vonode/v1/coordinator.js';

const S = OperationState.OPERATION_STATE_SUCCEEDED;
const F = OperationState.OPERATION_STATE_FAILED;
const D = OperationKind.OPERATION_KIND_DEPLOY;

function timing(id: string, state: OperationState, phases: Array<[Phase, number]>, kind = D): OperationTiming {
  return {
    operation: { id, kind, state, vo: 'bio', node: `node-${id}`, host: 'phys01', attempt: 1, error: '', createdUnixMs: 0, finishedUnixMs: 0, trigger: 'manual' },
    phases: phases.map(([phase, durationMs]) => ({ phase, durationMs })),
    totalMs: 0,
  };
}

/** Machine phases summing to `machineMs` (CR PT DA VMB VMR), then the given grid phases. */
function deployment(machineMs: number, grid: Array<[Phase, number]>): Array<[Phase, number]> {
  const rest = machineMs - 4000;
  return [[Phase.PHASE_CR, 1000], [Phase.PHASE_PT, rest], [Phase.PHASE_DA, 1000], [Phase.PHASE_VMB, 1000], [Phase.PHASE_VMR, 1000], ...grid];
}

function row(phases: Array<[Phase, number]>): TimingRow {
  return timingRows([timing('x', S, phases)], 'deploy')[0]!;
}

const layer = (key: string): (typeof LAYERS)[number] => LAYERS.find((l) => l.key === key)!;
const cells = (line: string | undefined): string[] => (line ?? '').trim().split(/\s{2,}/);

describe('coordinator/cli/render/layer-summary', () => {
  it('has the four layers of Fig. 3 with the paper\'s figures', () => {
    expect(LAYERS.map((l) => [l.key, l.phases.join(' '), l.paperSeconds])).to.deep.equal([
      ['machine', 'CR PT DA VMB VMR', 114],
      ['batch', 'SR', 2],
      ['infosys', 'PUB', 170],
      ['metascheduler', 'GW', 90],
    ]);
  });

  describe('layerMs', () => {
    it('sums the layer\'s phase durations', () => {
      expect(layerMs(row(deployment(114_000, [])), layer('machine'))).to.equal(114_000);
    });

    it('is undefined when one of its phases did not run, not a partial sum or 0', () => {
      const noVmr = deployment(114_000, []).filter(([p]) => p !== Phase.PHASE_VMR);
      expect(layerMs(row(noVmr), layer('machine'))).to.equal(undefined);
      expect(layerMs(row(deployment(114_000, [])), layer('metascheduler'))).to.equal(undefined);
    });
  });

  describe('gridVisibleMs', () => {
    const all = ['machine', 'batch', 'infosys', 'metascheduler'] as const;

    it('adds machine and SR, then the longer of PUB and GW, which run side by side', () => {
      const r = row(deployment(114_000, [[Phase.PHASE_SR, 2000], [Phase.PHASE_PUB, 170_000], [Phase.PHASE_GW, 90_000]]));
      expect(gridVisibleMs(r, all)).to.equal(114_000 + 2000 + 170_000);
      const gwLonger = row(deployment(114_000, [[Phase.PHASE_SR, 2000], [Phase.PHASE_PUB, 100_000], [Phase.PHASE_GW, 260_000]]));
      expect(gridVisibleMs(gwLonger, all)).to.equal(114_000 + 2000 + 260_000);
    });

    it('covers only the required layers', () => {
      const r = row(deployment(114_000, [[Phase.PHASE_SR, 2000], [Phase.PHASE_PUB, 170_000]]));
      expect(gridVisibleMs(r, ['machine', 'batch', 'infosys'])).to.equal(286_000);
    });

    it('is undefined when a required layer did not run, and when nothing is required', () => {
      const r = row(deployment(114_000, [[Phase.PHASE_SR, 2000]]));
      expect(gridVisibleMs(r, ['machine', 'batch', 'infosys'])).to.equal(undefined);
      expect(gridVisibleMs(r, [])).to.equal(undefined);
    });
  });

  it('totalFormula names the stages: sequential layers added, side-by-side ones as max()', () => {
    expect(totalFormula(['machine', 'batch', 'infosys', 'metascheduler'])).to.equal('CR..VMR + SR + max(PUB, GW)');
    expect(totalFormula(['machine', 'batch', 'infosys'])).to.equal('CR..VMR + SR + PUB');
    expect(totalFormula([])).to.equal('');
  });

  describe('buildLayerSummary', () => {
    // Three succeeded deployments without GridWay, one failed one and a removal (both ignored).
    const ops = [
      timing('a', S, deployment(110_000, [[Phase.PHASE_SR, 1000], [Phase.PHASE_PUB, 160_000]])),
      timing('b', S, deployment(114_000, [[Phase.PHASE_SR, 2000], [Phase.PHASE_PUB, 170_000]])),
      timing('c', S, deployment(130_000, [[Phase.PHASE_SR, 6000], [Phase.PHASE_PUB, 240_000]])),
      timing('f', F, deployment(999_000, [[Phase.PHASE_SR, 999_000]])),
      timing('r', S, [[Phase.PHASE_RC, 700]], OperationKind.OPERATION_KIND_REMOVE),
    ];
    const summary = buildLayerSummary(ops);
    const byKey = (key: string) => summary.layers.find((l) => l.key === key)!;

    it('takes mean and median per layer over the succeeded deployments', () => {
      expect([summary.succeeded, summary.deployments]).to.deep.equal([3, 4]);
      expect(byKey('machine')).to.deep.include({ meanMs: 118_000, medianMs: 114_000, count: 3 });
      expect(byKey('batch')).to.deep.include({ meanMs: 3000, medianMs: 2000, count: 3 });
      expect(byKey('infosys')).to.deep.include({ meanMs: 190_000, medianMs: 170_000, count: 3 });
    });

    it('leaves a layer no deployment ran without values (NaN, count 0), not 0 s', () => {
      const gw = byKey('metascheduler');
      expect(gw.count).to.equal(0);
      expect(gw.meanMs).to.be.NaN;
      expect(gw.medianMs).to.be.NaN;
    });

    it('builds the total from the layers that ran, per deployment', () => {
      expect(summary.totalLayers).to.deep.equal(['machine', 'batch', 'infosys']);
      // Per deployment: 271, 286, 376 s.
      expect(summary.total).to.deep.include({ key: 'total', meanMs: 311_000, medianMs: 286_000, count: 3, paperSeconds: 376 });
      expect(summary.total.phases).to.deep.equal(['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB']);
    });

    it('leaves a deployment whose PUB timed out out of PUB and the total, but not out of the others (even count: median of the middle two)', () => {
      const s = buildLayerSummary([...ops, timing('t', S, deployment(118_000, [[Phase.PHASE_SR, 3000]]))]);
      expect(s.layers.find((l) => l.key === 'machine')).to.deep.include({ meanMs: 118_000, medianMs: 116_000, count: 4 });
      expect(s.layers.find((l) => l.key === 'batch')).to.deep.include({ medianMs: 2500, count: 4 });
      expect(s.layers.find((l) => l.key === 'infosys')!.count).to.equal(3);
      expect(s.total.count).to.equal(3);
    });
  });

  it('renders one row per layer and the total with the paper\'s figure, - for a layer that did not run', () => {
    const lines = renderLayerSummary(
      buildLayerSummary([
        timing('a', S, deployment(110_000, [[Phase.PHASE_SR, 1000], [Phase.PHASE_PUB, 160_000]])),
        timing('b', S, deployment(120_000, [[Phase.PHASE_SR, 2000], [Phase.PHASE_PUB, 180_000]])),
      ]),
    );
    expect(cells(lines[0])).to.deep.equal(['LAYER', 'MEAN', 'MEDIAN', 'OPS', 'PAPER-2007']);
    expect(lines.slice(1, 6).map(cells)).to.deep.equal([
      ['machine (CR..VMR)', '115.0', '115.0', '2', '114'],
      ['batch system (SR)', '1.50', '1.50', '2', '2'],
      ['information system (PUB)', '170.0', '170.0', '2', '170'],
      ['meta-scheduler (GW)', '-', '-', '0', '90'],
      ['request → grid-visible (total)', '286.5', '286.5', '2', '376'],
    ]);
    expect(lines).to.include('total = CR..VMR + SR + PUB, over deployments that ran all of these');
    expect(lines).to.include('CR..VMR and SR run one after another; PUB and GW both start when SR ends and run side by side');
  });

  it('says so when there are no deployments', () => {
    expect(renderLayerSummary(buildLayerSummary([timing('r', S, [[Phase.PHASE_RC, 700]], OperationKind.OPERATION_KIND_REMOVE)]))).to.deep.equal([
      'no deployments recorded yet',
    ]);
  });

  it('gives the same numbers as JSON, null where a layer did not run', () => {
    const json = layerSummaryToJson(buildLayerSummary([timing('a', S, deployment(114_000, [[Phase.PHASE_SR, 2000], [Phase.PHASE_PUB, 170_000]]))]));
    const parsed = JSON.parse(JSON.stringify(json)) as Record<string, unknown>;
    expect(parsed).to.deep.include({ kind: 'layers', deployments: 1, succeeded: 1 });
    expect(parsed['layers']).to.deep.equal([
      { layer: 'machine', label: 'machine (CR..VMR)', phases: ['CR', 'PT', 'DA', 'VMB', 'VMR'], meanMs: 114_000, medianMs: 114_000, count: 1, paperSeconds: 114 },
      { layer: 'batch', label: 'batch system (SR)', phases: ['SR'], meanMs: 2000, medianMs: 2000, count: 1, paperSeconds: 2 },
      { layer: 'infosys', label: 'information system (PUB)', phases: ['PUB'], meanMs: 170_000, medianMs: 170_000, count: 1, paperSeconds: 170 },
      { layer: 'metascheduler', label: 'meta-scheduler (GW)', phases: ['GW'], meanMs: null, medianMs: null, count: 0, paperSeconds: 90 },
    ]);
    expect(parsed['total']).to.deep.include({ layer: 'total', meanMs: 286_000, medianMs: 286_000, count: 1, paperSeconds: 376, layers: ['machine', 'batch', 'infosys'] });
  });
});
