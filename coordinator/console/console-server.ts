import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Clock } from '../../shared/clock.js';
import type { RevocationList } from '../../shared/auth/revocation-list.js';
import type { Logger } from '../../shared/logger.js';
import type { TlsFiles } from '../../shared/rpc/credentials.js';
import type { EventBus } from '../events/event-bus.js';
import { ConsoleApi, ConsoleRequestError, type ConsoleApiDeps } from './console-api.js';
import { ConsoleAuth, SESSION_COOKIE, type ConsoleViewer } from './console-auth.js';
import { ConsoleTokens } from './console-tokens.js';
import { ConsoleEventStream, DEFAULT_STREAM_LIMITS, type EventStreamLimits } from './event-stream.js';
import { defaultAssetsDir, loadStaticAssets, type StaticAsset } from './static-assets.js';

/** How the console is set up (the coordinator config's `console` and `tls`). */
export interface ConsoleServerOptions {
  listen: string;
  tls: TlsFiles | undefined;
  tokensFile?: string;
  assetsDir?: string;
  revocations: RevocationList | undefined;
  events: EventBus;
  api: ConsoleApiDeps;
  clock: Clock;
  logger: Logger;
  streamLimits?: EventStreamLimits;
}

// The page loads only its own files; nothing may frame it or learn where it was.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const MAX_LOGIN_BODY = 4096;

type Route = (req: IncomingMessage, url: URL, viewer: ConsoleViewer) => unknown;

/**
 * The read-only web console (docs/console.md): the built page, a JSON read
 * API over the same views as the gRPC service, and the live event stream.
 * HTTPS with the coordinator's certificate; every /api/ path but login wants
 * a viewer (ConsoleAuth). Nothing here writes to the site.
 */
export class ConsoleServer {
  private server: http.Server | undefined;
  private tokens: ConsoleTokens | undefined;
  private auth!: ConsoleAuth;
  private assets = new Map<string, StaticAsset>();
  private readonly streams = new Set<ConsoleEventStream>();
  private readonly api: ConsoleApi;
  private readonly routes: Record<string, Route>;

  constructor(private readonly o: ConsoleServerOptions) {
    this.api = new ConsoleApi(o.api);
    this.routes = {
      '/api/whoami': (_req, _url, viewer) => this.api.whoami(viewer),
      '/api/status': () => this.api.status(),
      '/api/hosts': () => this.api.hosts(),
      '/api/nodes': (_req, url) => this.api.nodes(url.searchParams),
      '/api/operations': (_req, url) => this.api.operations(url.searchParams),
      '/api/layers': (_req, url) => this.api.layers(url.searchParams),
    };
  }

  /** Loads the bundle and the tokens, then listens; resolves with the port. Throws if either is missing or the address is taken. */
  async listen(): Promise<number> {
    const { o } = this;
    this.assets = await loadStaticAssets(o.assetsDir ?? defaultAssetsDir());
    this.tokens = o.tokensFile ? await ConsoleTokens.open(o.tokensFile, o.logger) : undefined;
    this.auth = new ConsoleAuth({ tls: !!o.tls, tokens: this.tokens, revocations: o.revocations, clock: o.clock });
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    this.server = o.tls
      ? https.createServer({
        ca: await readFile(o.tls.ca), cert: await readFile(o.tls.cert), key: await readFile(o.tls.key),
        // Ask for a certificate, but let a browser without one reach the login (tokens); ConsoleAuth checks `authorized`.
        requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2',
      }, handler)
      : http.createServer(handler);
    this.server.headersTimeout = 20_000;
    this.server.requestTimeout = 60_000;
    const i = o.listen.lastIndexOf(':');
    const port = await new Promise<number>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(Number(o.listen.slice(i + 1)), o.listen.slice(0, i), () => resolve((this.server!.address() as { port: number }).port));
    });
    o.logger.info({ listen: o.listen, port, tls: !!o.tls, tokens: this.tokens?.size ?? 0 }, 'web console serving');
    return port;
  }

  /** Ends every event stream and stops listening. */
  async close(): Promise<void> {
    for (const s of [...this.streams]) s.close('console shutting down');
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.tokens?.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'https://console.invalid');
    } catch {
      return this.json(res, 400, { error: 'bad request line' });
    }
    try {
      if (!url.pathname.startsWith('/api/')) return this.serveAsset(req, res, url.pathname);
      if (url.pathname === '/api/login') return await this.login(req, res);
      if (url.pathname === '/api/logout') return this.logout(req, res);
      const verdict = this.auth.check(req);
      if (!verdict.ok) return this.json(res, 401, { error: verdict.reason });
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.json(res, 405, { error: 'the console is read-only: GET only' }, { allow: 'GET, HEAD' });
      if (url.pathname === '/api/events') return this.openStream(res, verdict.viewer);
      const op = /^\/api\/operations\/([^/]+)$/.exec(url.pathname);
      if (op) return this.json(res, 200, await this.api.operation(decodeURIComponent(op[1]!)));
      const route = this.routes[url.pathname];
      if (!route) return this.json(res, 404, { error: `no such API path ${url.pathname} (see docs/console.md)` });
      return this.json(res, 200, await route(req, url, verdict.viewer));
    } catch (e) {
      if (e instanceof ConsoleRequestError) return this.json(res, e.status, { error: e.message });
      this.o.logger.error({ err: e, path: url.pathname }, 'console request failed');
      return this.json(res, 500, { error: 'internal error; the coordinator log has the details' });
    }
  }

  private serveAsset(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    // Every page route of the app (#/hosts...) is the one index.html.
    const asset = this.assets.get(pathname === '/index.html' ? '/' : pathname);
    if (!asset) return this.json(res, 404, { error: `no such file ${pathname}` });
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.json(res, 405, { error: 'GET only' }, { allow: 'GET, HEAD' });
    const headers = { 'content-type': asset.contentType, etag: asset.etag, 'cache-control': pathname === '/' ? 'no-cache' : 'public, max-age=3600' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return this.json(res, 405, { error: 'POST {"token": "..."} to log in' }, { allow: 'POST' });
    const token = await readToken(req);
    const session = token === undefined ? undefined : this.auth.login(token);
    if (!session) {
      this.o.logger.warn({ from: req.socket.remoteAddress }, 'console login refused');
      return this.json(res, 401, { error: 'that token is not one of the console tokens file' });
    }
    const secure = this.o.tls ? '; Secure' : '';
    res.writeHead(204, { 'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${this.auth.sessionSeconds}${secure}` });
    res.end();
  }

  private logout(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') return this.json(res, 405, { error: 'POST to log out' }, { allow: 'POST' });
    this.auth.logout(req);
    res.writeHead(204, { 'set-cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
    res.end();
  }

  private openStream(res: ServerResponse, viewer: ConsoleViewer): void {
    const stream = new ConsoleEventStream(this.o.events, res, this.o.streamLimits ?? DEFAULT_STREAM_LIMITS, (why) => {
      this.streams.delete(stream);
      this.o.logger.debug({ viewer: viewer.name, why }, 'console event stream closed');
    });
    this.streams.add(stream);
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
}

/** The token of a login body ({"token": "..."}), or undefined when the body is not that. */
async function readToken(req: IncomingMessage): Promise<string | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_LOGIN_BODY) return undefined;
    chunks.push(chunk);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token?: unknown };
    return typeof body.token === 'string' && body.token.length > 0 && body.token.length <= 512 ? body.token : undefined;
  } catch {
    return undefined;
  }
}
