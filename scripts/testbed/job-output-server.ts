// The testbed's job output collector (see lib/job-output-collector.ts). Runs
// on the frontend: `ip netns exec NS node --import tsx scripts/testbed/job-output-server.ts --dir D --host IP --port P`.
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startJobOutputCollector } from './lib/job-output-collector.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '8081' } } });
if (!values.dir) {
  process.stderr.write('usage: job-output-server --dir DIR [--host H] [--port P]\n');
  process.exit(2);
}
mkdirSync(values.dir, { recursive: true });
const server = await startJobOutputCollector(values.dir, values.host, Number(values.port));
process.stdout.write(`job output collector on http://${values.host}:${values.port}/jobs/ID writing ${values.dir}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
