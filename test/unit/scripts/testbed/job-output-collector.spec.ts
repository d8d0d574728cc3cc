import { expect } from 'chai';
import type { Server } from 'node:http';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { startJobOutputCollector } from '../../../../scripts/testbed/lib/job-output-collector.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { closeServer, portOf, rawRequest } from '../../../helpers/raw-http.js';

// The real collector on 127.0.0.1:0, writing into DIR = <tmp>/jobs so that a
// write outside DIR would show up as a stray file in <tmp>.
describe('scripts/testbed/job-output-collector', () => {
  let parent: string;
  let dir: string;
  let server: Server | undefined;
  let port: number;

  beforeEach(async () => {
    parent = await tempDir('vonode-jobout-');
    dir = path.join(parent, 'jobs');
    await mkdir(dir);
    server = await startJobOutputCollector(dir, '127.0.0.1', 0);
    port = portOf(server);
  });
  afterEach(async () => {
    await closeServer(server);
    server = undefined;
  });

  /** Nothing but DIR in its parent, and DIR holds exactly `files`. */
  async function expectWritten(files: string[]): Promise<void> {
    expect(await readdir(parent)).to.deep.equal(['jobs']);
    expect((await readdir(dir)).sort()).to.deep.equal(files);
  }

  it('appends each POST /jobs/ID as one line of DIR/ID.out', async () => {
    expect((await rawRequest(port, 'POST', '/jobs/42', { body: 'first report' })).status).to.equal(204);
    expect((await rawRequest(port, 'POST', '/jobs/42', { body: 'second report\n' })).status).to.equal(204);
    expect(await readFile(path.join(dir, '42.out'), 'utf8')).to.equal('first report\nsecond report\n');
    await expectWritten(['42.out']);
  });

  it('answers 404 to GET', async () => {
    expect((await rawRequest(port, 'GET', '/jobs/42')).status).to.equal(404);
    await expectWritten([]);
  });

  for (const bad of ['/jobs/abc', '/jobs/../x', '/jobs/../../x', '/jobs/%2e%2e%2fx', '/jobs/42/../43', '/jobs/', '/x/42']) {
    it(`answers 404 to POST ${bad} and writes nothing`, async () => {
      expect((await rawRequest(port, 'POST', bad, { body: 'payload' })).status).to.equal(404);
      await expectWritten([]);
    });
  }

  it('answers 413 to a body over 64 KiB and writes nothing', async () => {
    const res = await rawRequest(port, 'POST', '/jobs/7', { body: Buffer.alloc(64 * 1024 + 1, 'a') });
    expect(res.status).to.equal(413);
    await expectWritten([]);
  });

  it('accepts a body of exactly 64 KiB', async () => {
    const body = 'b'.repeat(64 * 1024 - 1) + '\n';
    expect((await rawRequest(port, 'POST', '/jobs/7', { body })).status).to.equal(204);
    expect(await readFile(path.join(dir, '7.out'), 'utf8')).to.equal(body);
  });
});
