import { expect } from 'chai';
import net from 'node:net';
import { freePort } from '../../../../scripts/testbed/lib/free-port.js';

describe('scripts/testbed/free-port: freePort', () => {
  it('returns a port on 127.0.0.1 that a server can then listen on', async () => {
    const port = await freePort();
    expect(port).to.be.within(1, 65535);
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve));
    expect((srv.address() as net.AddressInfo).port).to.equal(port);
    await new Promise((r) => srv.close(r));
  });
});
