import { expect } from 'chai';
import type { PhaseMark, PhaseName } from '../../../../shared/phases.js';
import { vmFigures, vmFiguresJson } from '../../../../scripts/bench/lib/deploy-figures.js';

/** Marks of one deployment: each phase [name, start ms, end ms, details on its start, details on its end]. */
function marks(phases: Array<[PhaseName, number, number, Record<string, string>?, Record<string, string>?]>): PhaseMark[] {
  return phases.flatMap(([phase, start, end, startDetails, endDetails]) => [
    { operationId: 'op', hostname: 'vwn-001', phase, edge: 'start' as const, monotonicMs: start, unixMs: start, details: startDetails ?? {} },
    { operationId: 'op', hostname: 'vwn-001', phase, edge: 'end' as const, monotonicMs: end, unixMs: end, durationMs: end - start, details: endDetails ?? {} },
  ]);
}

describe('scripts/bench/lib/deploy-figures', () => {
  const full = marks([
    ['CR', 1000, 1500],
    ['PT', 2000, 5250, { queue_wait_ms: '500' }, { bytes: '1048576', cache_hit: 'false' }],
    ['DA', 5250, 5500],
    ['VMB', 5500, 6000],
    ['VMR', 6000, 16000],
  ]);

  it('takes each phase from its end mark, the total from first to last mark, in seconds', () => {
    const f = vmFigures('vwn-001', full);
    expect(f.phaseS).to.deep.equal({ CR: 0.5, PT: 3.25, DA: 0.25, VMB: 0.5, VMR: 10 });
    expect(f.totalS).to.equal(15);
    expect(f.queuedS).to.equal(0.5);
    expect(f.ptBytes).to.equal('1048576');
    expect(f.cacheHit).to.equal(false);
  });

  it('gives NaN for what the agent did not report', () => {
    const f = vmFigures('vwn-002', marks([['CR', 0, 100], ['PT', 100, 200, {}, { cache_hit: 'true' }]]));
    expect(f.phaseS.VMR).to.be.NaN;
    expect(f.queuedS).to.be.NaN;
    expect(f.ptBytes).to.equal(undefined);
    expect(f.cacheHit).to.equal(true);
  });

  it('throws, naming the VM, when there are no marks at all', () => {
    expect(() => vmFigures('vwn-003', [])).to.throw(/vwn-003/);
  });

  it('writes one array per column for --json, with null where not measured', () => {
    const json = vmFiguresJson([vmFigures('vwn-001', full), vmFigures('vwn-002', marks([['CR', 0, 100]]))]);
    expect(json).to.deep.equal({
      hostnames: ['vwn-001', 'vwn-002'],
      cr_s: [0.5, 0.1],
      pt_s: [3.25, null],
      da_s: [0.25, null],
      vmb_s: [0.5, null],
      vmr_s: [10, null],
      total_s: [15, 0.1],
      queued_s: [0.5, null],
      pt_bytes: [1048576, null],
      pt_cache_hit: [false, false],
    });
  });
});
