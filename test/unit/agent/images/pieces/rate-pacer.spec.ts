import { expect } from 'chai';
import { RatePacer } from '../../../../../agent/images/pieces/rate-pacer.js';
import type { Clock } from '../../../../../shared/clock.js';

/** A clock that only moves when slept on (or advanced by the test): pacing takes no real time. */
function fakeClock(): Clock & { slept: number[]; signals: Array<AbortSignal | undefined>; advance(ms: number): void; readonly now: number } {
  let now = 5_000;
  const slept: number[] = [];
  const signals: Array<AbortSignal | undefined> = [];
  return {
    slept,
    signals,
    get now() {
      return now;
    },
    advance: (ms) => {
      now += ms;
    },
    monotonicMs: () => now,
    nowMs: () => 1_700_000_000_000 + now,
    sleep: async (ms, signal) => {
      slept.push(ms);
      signals.push(signal);
      now += ms;
    },
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const MB = 1_000_000;

describe('agent/images/pieces/RatePacer', () => {
  it('sleeps ~10 s in all, less the 50 ms burst, to take 10 MB at 1 MB/s in 64 KiB reads', async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(MB, clock);
    const start = clock.now;
    let left = 10 * MB;
    while (left > 0) {
      const n = Math.min(64 * 1024, left);
      await pacer.take(n);
      left -= n;
    }
    expect(sum(clock.slept)).to.be.closeTo(10_000 - 50, 1e-6);
    expect(clock.now - start).to.be.closeTo(9_950, 1e-6);
    expect(clock.slept.every((ms) => ms > 0)).to.equal(true);
  });

  it('paces one large take the same way', async () => {
    const clock = fakeClock();
    await new RatePacer(MB, clock).take(10 * MB);
    expect(clock.slept).to.have.length(1);
    expect(clock.slept[0]).to.be.closeTo(9_950, 1e-6);
  });

  it('does not sleep while the bytes taken stay within the 50 ms burst', async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(MB, clock);
    await pacer.take(20_000);
    await pacer.take(29_999); // 49.999 ms ahead
    expect(clock.slept).to.deep.equal([]);
    await pacer.take(2_000); // now 51.999 ms ahead
    expect(clock.slept).to.have.length(1);
    expect(clock.slept[0]).to.be.closeTo(1.999, 1e-9);
  });

  it('never makes a reader that is no faster than the rate wait', async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(MB, clock);
    for (let i = 0; i < 1000; i++) {
      await pacer.take(10_000); // 10 ms worth
      clock.advance(10);
    }
    expect(clock.slept).to.deep.equal([]);
  });

  it('earns no credit while idle: after a long pause the pace is the rate again, less the burst', async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(MB, clock);
    await pacer.take(MB);
    clock.advance(60_000);
    clock.slept.length = 0;
    await pacer.take(MB);
    expect(sum(clock.slept)).to.be.closeTo(950, 1e-6);
  });

  it('with rate 0 is unlimited: never sleeps', async () => {
    const clock = fakeClock();
    const pacer = new RatePacer(0, clock);
    expect(pacer.limited).to.equal(false);
    for (let i = 0; i < 100; i++) await pacer.take(100 * MB);
    expect(clock.slept).to.deep.equal([]);
    expect(new RatePacer(1, clock).limited).to.equal(true);
  });

  it('hands the abort signal to the clock\'s sleep, so an aborted download stops waiting', async () => {
    const clock = fakeClock();
    const ac = new AbortController();
    await new RatePacer(MB, clock).take(MB, ac.signal);
    expect(clock.signals).to.deep.equal([ac.signal]);

    const aborting: Clock = { ...clock, sleep: (_ms, signal) => Promise.reject(signal?.reason as Error) };
    ac.abort(new Error('stop'));
    const err = await new RatePacer(MB, aborting).take(MB, ac.signal).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).to.equal('stop');
  });
});
