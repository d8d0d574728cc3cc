import net from 'node:net';

/**
 * A free TCP port on 127.0.0.1. The port is closed again before the caller
 * uses it, so another process could take it first: fine for tests and
 * benchmarks that start their servers one at a time.
 */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
