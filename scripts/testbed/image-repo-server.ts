// The testbed's image repository: serves a directory over HTTP (Range
// supported), optionally rate-limited to model the site's link. Runs inside a
// testbed namespace: `ip netns exec NS node --import tsx scripts/testbed/image-repo-server.ts ...`.
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { startImageServer } from './lib/static-image-server.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'rate-mbit': { type: 'string', default: '0' },
    'port-file': { type: 'string' },
  },
});
if (!values.dir) {
  process.stderr.write('usage: image-repo-server --dir DIR [--host H] [--port P] [--rate-mbit N] [--port-file F]\n');
  process.exit(2);
}
const rate = (Number(values['rate-mbit']) * 1e6) / 8;
const server = await startImageServer({ dir: values.dir, rateBytesPerSec: rate }, values.host, Number(values.port));
const port = (server.address() as AddressInfo).port;
if (values['port-file']) writeFileSync(values['port-file'], String(port));
process.stdout.write(`image repository on http://${values.host}:${port}/ serving ${values.dir}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
