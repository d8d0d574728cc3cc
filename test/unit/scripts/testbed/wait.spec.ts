import { expect } from 'chai';
import type { Clock } from '../../../../shared/clock.js';
import { until, WaitTimeoutError } from '../../../../scripts/testbed/lib/wait.js';

/** A clock whose sleep() only moves time forward, so timeouts take no real time. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 1000;
  const slept: number[] = [];
  return {
    slept,
    monotonicMs: () => now,
    nowMs: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

describe('scripts/testbed/wait: until', () => {
  it('resolves with the first value that is neither undefined nor false, polling every everyMs', async () => {
    const clock = fakeClock();
    const answers = [undefined, false, 0, 7];
    const v = await until('a number', () => answers.shift(), 10_000, 250, clock);
    expect(v).to.equal(0); // 0 and '' are values, not "not yet"
    expect(clock.slept).to.deep.equal([250, 250]);
  });

  it('takes async probes and returns true for a boolean check', async () => {
    const clock = fakeClock();
    let calls = 0;
    expect(await until('third call', async () => ++calls === 3, 10_000, 100, clock)).to.equal(true);
    expect(calls).to.equal(3);
  });

  it('throws WaitTimeoutError naming what it waited for once timeoutMs has passed', async () => {
    const clock = fakeClock();
    let calls = 0;
    const err = await until('the moon', () => (calls++, undefined), 1000, 100, clock).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(WaitTimeoutError);
    expect((err as Error).message).to.equal('timed out after 1 s waiting for the moon');
    expect(calls).to.equal(12); // at 0, 100, …, 1100 ms: the last poll comes after the deadline
  });

  it('ends the wait with the error a probe throws', async () => {
    const clock = fakeClock();
    const err = await until('never', () => Promise.reject(new Error('coordinator gone')), 10_000, 100, clock).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error).and.not.instanceOf(WaitTimeoutError);
    expect((err as Error).message).to.equal('coordinator gone');
    expect(clock.slept).to.deep.equal([]);
  });

  it('uses the real clock by default', async () => {
    const t0 = Date.now();
    const err = await until('nothing', () => undefined, 50, 10).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(WaitTimeoutError);
    expect(Date.now() - t0).to.be.at.least(45);
  });
});
