import { expect } from 'chai';
import { VisibilityReports } from '../../../../coordinator/gridway/visibility-reports.js';
import type { Clock } from '../../../../shared/clock.js';

/** A clock the test moves by hand (monotonic ms). */
function handClock(): Clock & { now: number } {
  const c = { now: 1000, monotonicMs: () => c.now, nowMs: () => c.now, sleep: () => Promise.resolve() };
  return c;
}

describe('coordinator/gridway/VisibilityReports (the GW phase)', () => {
  it('a discover_pushed report does not end GW; a schedulable one does, with the push moment as a detail', async () => {
    const clock = handClock();
    const reports = new VisibilityReports(clock);
    const started = clock.now;
    let ended: Record<string, string> | undefined;
    const waiting = reports.wait('vwn-001', started, new AbortController().signal).then((d) => (ended = d));
    clock.now += 4;
    reports.report(['vwn-001'], 'mad', 'discover_pushed');
    await Promise.resolve();
    expect(ended, 'told, not yet schedulable').to.equal(undefined);
    clock.now += 3000;
    reports.report(['vwn-001'], 'mad', 'schedulable');
    await waiting;
    expect(ended).to.deep.equal({ reporter: 'mad', discover_pushed_ms: '4' });
  });

  it('a report before the wait (the MAD was faster) is found, and one from before the phase is not', async () => {
    const clock = handClock();
    const reports = new VisibilityReports(clock);
    reports.report(['vwn-002'], 'mad');
    clock.now += 10;
    const phaseStart = clock.now;
    reports.report(['vwn-001'], 'mad');
    expect(await reports.wait('vwn-001', phaseStart, new AbortController().signal)).to.deep.equal({ reporter: 'mad' });
    const abort = new AbortController();
    const stale = reports.wait('vwn-002', phaseStart, abort.signal);
    abort.abort(new Error('phase timed out'));
    let error: unknown;
    await stale.catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/phase timed out/);
  });
});
