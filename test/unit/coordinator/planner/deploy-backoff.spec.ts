import { expect } from 'chai';
import { DeployBackoff, type DeployOutcome } from '../../../../coordinator/planner/deploy-backoff.js';

const failed = (vo: string, submittedMs: number, error = 'PT failed: HTTP 404'): DeployOutcome => ({ vo, succeeded: false, error, submittedMs });
const succeeded = (vo: string, submittedMs: number): DeployOutcome => ({ vo, succeeded: true, error: '', submittedMs });

describe('coordinator/planner/DeployBackoff', () => {
  it('holds a VO 5 s after its first failure, then allows it again', () => {
    const b = new DeployBackoff();
    expect(b.isHeld('bio', 0)).to.equal(false);
    const hold = b.record(failed('bio', 0), 1_000);
    expect(hold).to.deep.include({ failures: 1, rounds: 1, sinceMs: 1_000, delayMs: 5_000, untilMs: 6_000, lastError: 'PT failed: HTTP 404' });
    expect(b.isHeld('bio', 5_999)).to.equal(true);
    expect(b.isHeld('bio', 6_000)).to.equal(false);
    expect(b.isHeld('fusion', 1_000)).to.equal(false);
    expect([...b.heldVos(2_000)]).to.deep.equal(['bio']);
  });

  it('doubles the hold with each failure of a deployment submitted after the last hold began, up to 5 min', () => {
    const b = new DeployBackoff();
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const hold = b.record(failed('bio', now), now + 100);
      delays.push(hold!.delayMs);
      now = hold!.untilMs; // the loop submits again once the hold ends
    }
    expect(delays).to.deep.equal([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    expect(b.snapshot().get('bio')).to.include({ failures: 9, rounds: 9 });
  });

  it('counts the rest of a failed batch without extending or doubling the hold', () => {
    const b = new DeployBackoff();
    expect(b.record(failed('bio', 0, 'first'), 1_000)).to.include({ delayMs: 5_000 });
    // Submitted together with the first, failing later (even after the hold ended): same cause, same step.
    expect(b.record(failed('bio', 0, 'second'), 3_000)).to.equal(undefined);
    expect(b.record(failed('bio', 500, 'third'), 8_000)).to.equal(undefined);
    expect(b.snapshot().get('bio')).to.deep.equal({ failures: 3, rounds: 1, sinceMs: 1_000, delayMs: 5_000, untilMs: 6_000, lastError: 'third', cause: 'other' });
    expect(b.isHeld('bio', 8_000)).to.equal(false);
    // One submitted after the hold began fails: the next step.
    expect(b.record(failed('bio', 6_000), 9_000)).to.include({ failures: 4, rounds: 2, delayMs: 10_000, untilMs: 19_000 });
  });

  it('clears everything when a deployment of the VO succeeds, and only for that VO', () => {
    const b = new DeployBackoff();
    b.record(failed('bio', 0), 1_000);
    b.record(failed('bio', 1_000), 2_000);
    b.record(failed('fusion', 0), 1_000);
    b.record(succeeded('bio', 0), 2_500);
    expect(b.isHeld('bio', 2_500)).to.equal(false);
    expect(b.snapshot().has('bio')).to.equal(false);
    expect(b.isHeld('fusion', 2_500)).to.equal(true);
    // Failing again starts from the first step.
    expect(b.record(failed('bio', 3_000), 4_000)).to.include({ failures: 1, rounds: 1, delayMs: 5_000 });
  });

  it('takes its delays from the options and forgets VOs that left the policy', () => {
    const b = new DeployBackoff({ initialMs: 100, maxMs: 250 });
    expect(b.record(failed('bio', 0), 10)!.delayMs).to.equal(100);
    expect(b.record(failed('bio', 0), 20)).to.equal(undefined);
    expect(b.record(failed('bio', 110), 150)!.delayMs).to.equal(200);
    expect(b.record(failed('bio', 350), 400)!.delayMs).to.equal(250);
    b.record(failed('fusion', 0), 0);
    b.retain(['fusion']);
    expect([...b.snapshot().keys()]).to.deep.equal(['fusion']);
  });
});
