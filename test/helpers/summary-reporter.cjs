// Mocha's spec reporter plus, at the end, the spec files that took the most
// wall time (hooks included: a site started in before() counts) and one
// closing line in the plain form CI reads: "mocha: N passed, N failed, N
// skipped". CommonJS because mocha loads reporters with require().
const path = require('node:path');
const Mocha = require('mocha');

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_HOOK_BEGIN, EVENT_TEST_BEGIN } = Mocha.Runner.constants;
const SLOWEST_SHOWN = 12;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const perFile = new Map();
    let current;
    let since = Date.now();
    // Time runs to the file of whatever mocha did last: serial runs have one at a time.
    const charge = (runnable) => {
      const now = Date.now();
      if (current) perFile.set(current, (perFile.get(current) ?? 0) + (now - since));
      since = now;
      const file = runnable && (runnable.file ?? runnable.parent?.file);
      if (file) current = file;
    };
    for (const event of [EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_HOOK_BEGIN, EVENT_TEST_BEGIN]) runner.on(event, charge);
    runner.once(EVENT_RUN_END, () => {
      charge();
      const s = runner.stats;
      const slowest = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST_SHOWN);
      if (slowest.length > 1) {
        process.stdout.write(`\nslowest spec files (wall time, hooks included):\n`);
        for (const [file, ms] of slowest) process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${path.relative(process.cwd(), file)}\n`);
      }
      process.stdout.write(`\nmocha: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = SummaryReporter;
