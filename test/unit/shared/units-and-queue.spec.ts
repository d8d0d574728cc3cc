import { expect } from 'chai';
import { SerialQueue } from '../../../shared/async/serial-queue.js';
import { parseDurationMs, parseSizeBytes } from '../../../shared/config/units.js';
import { phaseMarkFromWire, phaseMarkToWire } from '../../../shared/rpc/phase-codec.js';
import { DEPLOY_PHASES, REMOVE_PHASES } from '../../../shared/phases.js';

describe('shared/config/units', () => {
  const durations: Array<[string | number, number | undefined]> = [['500ms', 500], ['30s', 30_000], ['2m', 120_000], ['1h', 3_600_000], [250, 250], ['1.5s', 1500], ['soon', undefined], ['-1s', undefined]];
  for (const [input, out] of durations) it(`duration ${JSON.stringify(input)} → ${out}`, () => expect(parseDurationMs(input)).to.equal(out));
  const sizes: Array<[string | number, number | undefined]> = [['512MiB', 512 * 1024 ** 2], ['20GiB', 20 * 1024 ** 3], ['1000', 1000], ['1GB', 1e9], ['lots', undefined]];
  for (const [input, out] of sizes) it(`size ${JSON.stringify(input)} → ${out}`, () => expect(parseSizeBytes(input)).to.equal(out));
});

describe('shared/async/SerialQueue', () => {
  it('runs tasks one at a time in order, even when one fails', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => () =>
      new Promise<string>((res, rej) => {
        log.push(`start ${name}`);
        setTimeout(() => (log.push(`end ${name}`), fail ? rej(new Error(name)) : res(name)), ms);
      });
    const results = await Promise.allSettled([q.run(task('a', 30)), q.run(task('b', 5, true)), q.run(task('c', 1))]);
    expect(log).to.deep.equal(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(q.depth).to.equal(0);
  });
});

describe('shared/rpc/phase-codec', () => {
  it('round-trips every phase and edge', () => {
    for (const phase of [...DEPLOY_PHASES, ...REMOVE_PHASES]) {
      const mark = { operationId: 'op', hostname: 'h', phase, edge: 'end' as const, monotonicMs: 12.5, unixMs: 1e12, durationMs: 3.25, details: { a: 'b' } };
      expect(phaseMarkFromWire(phaseMarkToWire(mark))).to.deep.equal(mark);
    }
  });
});
