import { expect } from 'chai';
import type { PhaseMarkJson } from '../../../../../coordinator/console/web/model/api-types.js';
import { axisTicks, ghostBars, layoutGantt } from '../../../../../coordinator/console/web/model/gantt-layout.js';

const PAPER_2007 = { CR: 2, PT: 96.8, DA: 4.58, VMB: 3, VMR: 10.67, SR: 1.5, PUB: 170, GW: 90 };
const T0 = 1_700_000_000_000;

/** start/end marks of one phase at [from, to] ms after T0. */
function phase(name: string, from: number, to: number, attempt = 1, host = 'phys01', details: Record<string, string> = {}): PhaseMarkJson[] {
  return [
    { attempt, host, phase: name, edge: 'start', unixMs: T0 + from },
    { attempt, host, phase: name, edge: 'end', unixMs: T0 + to, durationMs: to - from, details },
  ];
}

/** A deployment as recorded: CR..VMR on the agent, SR then PUB and GW side by side on the coordinator. */
function deployment(attempt = 1, offset = 0): PhaseMarkJson[] {
  const o = offset;
  return [
    ...phase('CR', o + 0, o + 20, attempt),
    ...phase('PT', o + 500, o + 40_500, attempt, 'phys01', { bytes: '300000000', cache_hit: 'false' }),
    ...phase('DA', o + 40_500, o + 41_000, attempt),
    ...phase('VMB', o + 41_000, o + 44_000, attempt),
    ...phase('VMR', o + 44_000, o + 54_000, attempt),
    ...phase('SR', o + 54_100, o + 55_600, attempt, 'coordinator'),
    ...phase('PUB', o + 55_600, o + 115_600, attempt, 'coordinator'),
    ...phase('GW', o + 55_600, o + 75_600, attempt, 'coordinator'),
  ];
}

describe('coordinator/console/web/model/gantt-layout', () => {
  it('lays out the phases in pipeline order at offsets from the first mark', () => {
    // Recorded order differs from pipeline order (GW ends before PUB): the bars do not.
    const marks = deployment();
    const l = layoutGantt(marks, { kind: 'deploy', paper2007: PAPER_2007 });
    expect(l.originUnixMs).to.equal(T0);
    expect(l.bars.map((b) => b.phase)).to.deep.equal(['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW']);
    const pt = l.bars[1]!;
    expect(pt).to.include({ startMs: 500, endMs: 40_500, durationMs: 40_000, open: false, host: 'phys01' });
    expect(pt.details).to.deep.equal({ bytes: '300000000', cache_hit: 'false' });
    const [pub, gw] = [l.bars[6]!, l.bars[7]!];
    expect(pub.startMs).to.equal(gw.startMs, 'PUB and GW start together when SR ends');
    expect(l.bars[5]).to.include({ startMs: 54_100, endMs: 55_600, host: 'coordinator' });
  });

  it('labels with the recorded (monotonic) duration rather than the wall-clock difference', () => {
    const marks: PhaseMarkJson[] = [
      { attempt: 1, phase: 'VMB', edge: 'start', unixMs: T0 },
      { attempt: 1, phase: 'VMB', edge: 'end', unixMs: T0 + 3050, durationMs: 3000 },
    ];
    expect(layoutGantt(marks, { kind: 'deploy' }).bars[0]).to.include({ startMs: 0, endMs: 3050, durationMs: 3000 });
  });

  it('lays the paper 2007 ghosts in pipeline order, PUB and GW side by side after SR (Fig. 3)', () => {
    const l = layoutGantt(deployment(), { kind: 'deploy', paper2007: PAPER_2007 });
    expect(l.ghosts.map((g) => g.phase)).to.deep.equal(['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW']);
    for (let i = 1; i < 7; i++) expect(l.ghosts[i]!.startMs).to.be.closeTo(l.ghosts[i - 1]!.endMs, 1e-6);
    expect(l.ghosts[7]!.startMs, 'GW starts with PUB, when SR ends').to.be.closeTo(l.ghosts[6]!.startMs, 1e-6);
    expect(l.ghosts[0]).to.deep.equal({ phase: 'CR', startMs: 0, endMs: 2000, durationMs: 2000 });
    expect(l.ghosts[1]!.durationMs).to.be.closeTo(96_800, 1e-6);
    expect(l.ghosts.at(-1)!.endMs).to.be.closeTo(208_550, 1e-6); // 118.55 s, then GW's 90 s beside PUB's 170 s
    expect(l.spanMs).to.be.closeTo(288_550, 1e-6, 'the axis covers the longer of the two rows');
  });

  it('leaves out ghost phases the paper figures lack, and uses the removal order for drains and removals', () => {
    expect(ghostBars('deploy', { CR: 2, PT: 96.8, SR: 1.5 }).map((g) => [g.phase, g.startMs])).to.deep.equal([
      ['CR', 0],
      ['PT', 2000],
      ['SR', 98_800],
    ]);
    expect(ghostBars('removal', { RC: 1, VMD: 10, DHR: 2, DKR: 0.5, CR: 2 }).map((g) => g.phase)).to.deep.equal(['RC', 'VMD', 'DHR', 'DKR']);
    expect(ghostBars('deploy', { CR: Number.NaN, PT: -1 })).to.deep.equal([]);
  });

  it('draws removal phases, DRN first', () => {
    const marks = [...phase('RC', 30_000, 30_010, 1), ...phase('VMD', 30_010, 40_000, 1), ...phase('DRN', 0, 30_000, 1, 'coordinator'), ...phase('DHR', 40_000, 40_200, 1), ...phase('DKR', 40_200, 40_900, 1)];
    const l = layoutGantt(marks, { kind: 'removal' });
    expect(l.bars.map((b) => b.phase)).to.deep.equal(['DRN', 'RC', 'VMD', 'DHR', 'DKR']);
    expect(l.bars[0]).to.include({ startMs: 0, endMs: 30_000, host: 'coordinator' });
    expect(l.ghosts).to.deep.equal([]);
  });

  it('shows only the last attempt of a retried operation, relative to that attempt, and lists every attempt', () => {
    // Attempt 1 failed in PT on phys01 (PT never ended); attempt 2 ran everything on phys02 a minute later.
    const first = [...phase('CR', 0, 20, 1), { attempt: 1, host: 'phys01', phase: 'PT', edge: 'start', unixMs: T0 + 100 }];
    const second = deployment(2, 60_000).map((m) => ({ ...m, host: m.host === 'phys01' ? 'phys02' : m.host }));
    const l = layoutGantt([...first, ...second], { kind: 'deploy' });
    expect(l.attempts).to.deep.equal([1, 2]);
    expect(l.attempt).to.equal(2);
    expect(l.originUnixMs).to.equal(T0 + 60_000);
    expect(l.bars).to.have.length(8);
    expect(l.bars.every((b) => !b.open)).to.equal(true);
    expect(l.bars[0]).to.include({ phase: 'CR', startMs: 0, host: 'phys02' });
  });

  it('marks a phase without its end as open, up to now for a running operation', () => {
    const marks = [...phase('CR', 0, 20), { attempt: 1, host: 'phys01', phase: 'PT', edge: 'start', unixMs: T0 + 500 }];
    const atLastMark = layoutGantt(marks, { kind: 'deploy' });
    expect(atLastMark.bars[1]).to.include({ phase: 'PT', open: true, startMs: 500, endMs: 500 });
    const running = layoutGantt(marks, { kind: 'deploy', openUntilMs: T0 + 12_500 });
    expect(running.bars[1]).to.include({ open: true, startMs: 500, endMs: 12_500, durationMs: 12_000 });
  });

  it('places an end without a start by its duration, and reads wire names too', () => {
    const marks: PhaseMarkJson[] = [
      { attempt: 1, phase: 'PHASE_CR', edge: 'EDGE_START', unixMs: T0 },
      { attempt: 1, phase: 'PHASE_SR', edge: 'EDGE_END', unixMs: T0 + 9000, durationMs: 1500 },
    ];
    const l = layoutGantt(marks, { kind: 'deploy' });
    expect(l.bars.map((b) => [b.phase, b.startMs, b.endMs, b.open])).to.deep.equal([
      ['CR', 0, 9000, true],
      ['SR', 7500, 9000, false],
    ]);
  });

  it('copes with no marks at all', () => {
    const l = layoutGantt([], { kind: 'deploy', paper2007: { CR: 2 } });
    expect(l).to.include({ originUnixMs: 0, attempt: 0, spanMs: 2000 });
    expect(l.bars).to.deep.equal([]);
    expect(l.attempts).to.deep.equal([]);
  });

  it('picks axis ticks at a 1/2/5 step covering the span', () => {
    expect(axisTicks(378_550)).to.deep.equal([0, 50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 350_000]);
    expect(axisTicks(8000)).to.deep.equal([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);
    expect(axisTicks(0)).to.deep.equal([0]);
  });
});
