import { expect } from 'chai';
import type { Server } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startImageServer } from '../../../../scripts/testbed/lib/static-image-server.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { closeServer, portOf, rawRequest } from '../../../helpers/raw-http.js';

// The testbed's image repository on 127.0.0.1:0 serving <tmp>/served, with a
// file at <tmp>/secret next to (not inside) the served tree: any traversal
// that escaped would serve it. Requests go out verbatim (no client-side
// normalisation of "..").
describe('scripts/testbed/static-image-server', () => {
  const disk = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
  let server: Server | undefined;
  let port: number;

  before(async () => {
    const tmp = await tempDir('vonode-imgsrv-');
    const served = path.join(tmp, 'served');
    await mkdir(path.join(served, 'bio'), { recursive: true });
    await writeFile(path.join(served, 'bio', 'disk.qcow2'), disk);
    await writeFile(path.join(served, 'top.qcow2'), 'top');
    await writeFile(path.join(tmp, 'secret'), 'outside the served tree');
    server = await startImageServer({ dir: served }, '127.0.0.1', 0);
    port = portOf(server);
  });
  after(async () => closeServer(server));

  it('serves a file in a subdirectory with its exact bytes', async () => {
    const res = await rawRequest(port, 'GET', '/bio/disk.qcow2');
    expect(res.status).to.equal(200);
    expect(res.headers['content-length']).to.equal(String(disk.length));
    expect(res.headers['accept-ranges']).to.equal('bytes');
    expect(res.body.equals(disk)).to.be.true;
  });

  it('serves a file at the top of the tree', async () => {
    const res = await rawRequest(port, 'GET', '/top.qcow2');
    expect(res.status).to.equal(200);
    expect(res.body.toString()).to.equal('top');
  });

  it('answers a closed Range of a nested file with 206 and those bytes', async () => {
    const res = await rawRequest(port, 'GET', '/bio/disk.qcow2', { headers: { range: 'bytes=100-199' } });
    expect(res.status).to.equal(206);
    expect(res.headers['content-range']).to.equal(`bytes 100-199/${disk.length}`);
    expect(res.body.equals(disk.subarray(100, 200))).to.be.true;
  });

  it('answers an open Range ("bytes=N-") with the rest of the file', async () => {
    const res = await rawRequest(port, 'GET', '/bio/disk.qcow2', { headers: { range: 'bytes=4000-' } });
    expect(res.status).to.equal(206);
    expect(res.headers['content-range']).to.equal(`bytes 4000-4095/${disk.length}`);
    expect(res.body.equals(disk.subarray(4000))).to.be.true;
  });

  it('answers 416 to a Range past the end', async () => {
    const res = await rawRequest(port, 'GET', '/bio/disk.qcow2', { headers: { range: 'bytes=5000-' } });
    expect(res.status).to.equal(416);
    expect(res.headers['content-range']).to.equal(`bytes */${disk.length}`);
  });

  const refused = [
    '/../secret',
    '/bio/../../secret',
    '/%2e%2e/secret',
    '/%2e%2e%2fsecret',
    '/bio/%2e%2e%2f%2e%2e%2fsecret',
    '/..%2fsecret',
    '/../etc/passwd',
    '/bio/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/bio',
    '/bio/',
    '/',
    '/missing.qcow2',
  ];
  for (const p of refused) {
    it(`answers 404 to ${p}`, async () => {
      const res = await rawRequest(port, 'GET', p);
      expect(res.status).to.equal(404);
      expect(res.body.toString()).not.to.contain('outside');
    });
  }
});
