// The gwd stand-in as a process of its own (see lib/gwd-stand-in.ts), for a
// testbed left up with `scripts/demo.sh --keep`: keeps GridWay's MAD running
// and asks it to DISCOVER every --interval seconds, as gwd does, until SIGTERM.
// Usage: node --import tsx scripts/testbed/gwd-stand-in.ts --log FILE [--interval S] -- MAD_ARGV...
import { parseArgs } from 'node:util';
import { GwdStandIn } from './lib/gwd-stand-in.js';

const split = process.argv.indexOf('--');
const { values } = parseArgs({ args: process.argv.slice(2, split < 0 ? undefined : split), options: { log: { type: 'string' }, interval: { type: 'string', default: '30' } } });
const mad = split < 0 ? [] : process.argv.slice(split + 1);
const intervalS = Number(values.interval);
if (!values.log || mad.length === 0 || !(intervalS > 0)) {
  process.stderr.write('usage: gwd-stand-in --log FILE [--interval S] -- MAD_ARGV...\n');
  process.exit(2);
}
const gwd = new GwdStandIn(mad, values.log);
await gwd.start();
process.stdout.write(`gwd stand-in: the MAD answers; DISCOVER every ${intervalS} s (log ${values.log})\n`);
const timer = setInterval(() => void gwd.discover().catch((e: Error) => process.stderr.write(`${e.message}\n`)), intervalS * 1000);
process.once('SIGTERM', () => {
  clearInterval(timer);
  void gwd.stop().then(() => process.exit(0));
});
