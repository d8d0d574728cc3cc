import { expect } from 'chai';
import { SerialQueue } from '../../../shared/async/serial-queue.js';
import { z } from 'zod';
import { durationMs, durationWithin, formatDurationMs, formatSizeBytes, intWithin, parseDurationMs, parseSizeBytes, sizeBytes } from '../../../shared/config/units.js';
import { phaseMarkFromWire, phaseMarkToWire } from '../../../shared/rpc/phase-codec.js';
import { DEPLOY_PHASES, REMOVE_PHASES } from '../../../shared/phases.js';

describe('shared/config/units', () => {
  const durations: Array<[string | number, number | undefined]> = [['500ms', 500], ['30s', 30_000], ['2m', 120_000], ['1h', 3_600_000], [250, 250], ['1.5s', 1500], ['soon', undefined], ['-1s', undefined]];
  for (const [input, out] of durations) it(`duration ${JSON.stringify(input)} → ${out}`, () => expect(parseDurationMs(input)).to.equal(out));
  const sizes: Array<[string | number, number | undefined]> = [['512MiB', 512 * 1024 ** 2], ['20GiB', 20 * 1024 ** 3], ['1000', 1000], ['1GB', 1e9], ['lots', undefined]];
  for (const [input, out] of sizes) it(`size ${JSON.stringify(input)} → ${out}`, () => expect(parseSizeBytes(input)).to.equal(out));

  // Values that parse but do not convert to a whole, exact, non-negative number (YAML can say .inf and .nan).
  const beyond: Array<[string, z.ZodType, string | number, RegExp]> = [
    ['size', sizeBytes, '99999999999999999999TiB', /"99999999999999999999TiB" is too large \(over 2\^53 bytes\)/],
    ['size', sizeBytes, '9007199254740993', /too large/],
    ['size', sizeBytes, Infinity, /Infinity is not a finite number of bytes/],
    ['size', sizeBytes, NaN, /not a finite number of bytes/],
    ['size', sizeBytes, -1, /-1 is negative/],
    ['size', sizeBytes, '-1MiB', /"-1MiB" is not a size like 512MiB/],
    ['duration', durationMs, '1e400s', /"1e400s" is not a duration like 500ms/],
    ['duration', durationMs, '99999999999999999999h', /"99999999999999999999h" is too large \(over 2\^53 ms\)/],
    ['duration', durationMs, 1e300, /too large/],
    ['duration', durationMs, -Infinity, /not a finite number of ms/],
    ['duration', durationMs, -5, /-5 is negative/],
  ];
  for (const [kind, schema, input, message] of beyond) {
    it(`refuses the ${kind} ${String(input)} with a message for its field`, () => {
      const r = z.strictObject({ field: schema }).safeParse({ field: input });
      expect(r.success).to.equal(false);
      expect(r.error!.issues[0]!.path).to.deep.equal(['field']);
      expect(r.error!.issues[0]!.message).to.match(message);
      expect((kind === 'size' ? parseSizeBytes : parseDurationMs)(input)).to.equal(undefined);
    });
  }

  it('rounds to whole units: 1.1s is 1100 ms, 0.5B is 1 byte', () => {
    expect(parseDurationMs('1.1s')).to.equal(1100);
    expect(parseSizeBytes('0.5B')).to.equal(1);
  });

  it('bounds a duration or a whole number to a range stated in config units', () => {
    const week = durationWithin(0, 7 * 24 * 3_600_000);
    expect(week.parse('168h')).to.equal(604_800_000);
    expect(week.safeParse('169h').error?.issues[0]?.message).to.equal('must be from 0ms to 168h');
    expect(intWithin(1, 100).safeParse(101).error?.issues[0]?.message).to.equal('must be a whole number from 1 to 100');
    expect(intWithin(1, 100).safeParse(1.5).error?.issues[0]?.message).to.equal('must be a whole number from 1 to 100');
    expect([formatDurationMs(90_000), formatDurationMs(1500), formatSizeBytes(4 * 1024 ** 4), formatSizeBytes(1000)]).to.deep.equal(['90s', '1500ms', '4TiB', '1000B']);
  });
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
