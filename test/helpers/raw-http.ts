// A plain node:http client for tests of small HTTP servers. Unlike fetch, it
// sends the path exactly as given (no "/a/../b" normalisation), so tests can
// probe how a server handles traversal attempts.
import http from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Status, headers and the whole body of one response. */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** The port a server listening on 127.0.0.1:0 was given. */
export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** Sends one request to 127.0.0.1:`port` with `rawPath` verbatim. */
export function rawRequest(
  port: number,
  method: string,
  rawPath: string,
  options: { body?: string | Buffer; headers?: http.OutgoingHttpHeaders } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Closes a server (and its idle keep-alive sockets). */
export function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.close((e) => (e ? reject(e) : resolve()));
    server.closeAllConnections();
  });
}
