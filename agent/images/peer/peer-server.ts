import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { describeIdentity, identityOf } from '../../../shared/auth/peer-identity.js';
import type { Logger } from '../../../shared/logger.js';
import type { PieceManifest } from '../pieces/piece-manifest.js';
import type { PeerTls } from './peer-source.js';
import { RatePacer } from '../pieces/rate-pacer.js';
import { MAX_WAIT_MS, parseImagePath, parseRange, RATE_HEADER, REASON_HEADER, WAIT_HEADER } from './peer-protocol.js';

// Bytes written between two pacing decisions.
const WRITE_CHUNK = 64 * 1024;

/** An image this host can serve: complete, or being fetched piece-wise. */
export interface ServedImage {
  manifest: PieceManifest;
  /** Resolves true once piece `index` is verified here (at once for a complete image). */
  waitFor(index: number, timeoutMs: number): Promise<boolean>;
  /** Bytes [start, end); only called for verified pieces. */
  read(start: number, end: number): Promise<Buffer>;
}

/** What the server serves from: the agent's image cache. */
export interface ServedImages {
  /** The image, or undefined when this host neither holds nor fetches it piece-wise (after waiting up to `waitMs` for such a download to start). */
  served(sha256: string, waitMs: number): Promise<ServedImage | undefined>;
}

/** Options of the peer server. */
export interface PeerServerOptions {
  tls: PeerTls;
  images: ServedImages;
  /** Most peers served at once (one per downloading host, whatever its number of connections). */
  maxUploads: number;
  logger: Logger;
}

/** Counters of what the server sent. */
export interface UploadStats {
  bytesServed: number;
  requests: number;
  activePeers: number;
}

/**
 * The agent's read-only peer endpoint (HTTPS, mutual TLS; protocol in
 * peer-protocol.ts): serves only pieces that verified against the manifest,
 * to agents of the site only, to at most `maxUploads` peers at once.
 */
export class PeerServer {
  private server: https.Server | undefined;
  private readonly active = new Map<string, number>();
  // One pacer per peer being served: its parallel requests share the rate it was admitted at.
  private readonly pacers = new Map<string, RatePacer>();
  readonly stats: UploadStats = { bytesServed: 0, requests: 0, activePeers: 0 };

  constructor(private readonly options: PeerServerOptions) {}

  /** Listens on host:port; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const { tls } = this.options;
    const server = https.createServer({ ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      void this.handle(req, res).catch((e: unknown) => {
        this.options.logger.warn({ err: e }, 'peer request failed');
        if (!res.headersSent) reply(res, 500, 'internal error');
        else res.destroy();
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting and closes open connections. */
  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.stats.requests++;
    const peer = this.authorize(req);
    if (!peer.ok) return reply(res, 403, peer.reason);
    if (req.method !== 'GET') return reply(res, 405, 'only GET is served');
    const target = parseImagePath(new URL(req.url ?? '/', 'https://peer').pathname);
    if (!target) return reply(res, 404, 'no such path: GET /v1/images/<sha256>[/manifest]');
    const waitMs = Math.min(MAX_WAIT_MS, Math.max(0, Number(header(req, WAIT_HEADER) ?? 0) || 0));
    const image = await this.options.images.served(target.sha256, waitMs);
    if (!image) return reply(res, 404, 'this host neither holds nor fetches the image');
    if (target.manifest) {
      const body = Buffer.from(JSON.stringify(image.manifest));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      return void res.end(body);
    }
    const range = parseRange(header(req, 'range'), image.manifest.sizeBytes);
    if (!range) return reply(res, 416, `ask for one range, bytes=A-B, inside the image's ${image.manifest.sizeBytes} bytes`);
    if (!this.acquire(peer.name)) return reply(res, 503, `upload slots full (${this.options.maxUploads} peers)`);
    try {
      const rate = Number(header(req, RATE_HEADER) ?? 0);
      const pacer = this.pacerFor(peer.name, Number.isFinite(rate) && rate > 0 ? rate : 0);
      if (!(await this.piecesReady(image, range, waitMs))) return reply(res, 503, 'the range is not verified here yet');
      const body = await image.read(range.start, range.end);
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': body.length,
        'content-range': `bytes ${range.start}-${range.end - 1}/${image.manifest.sizeBytes}`,
      });
      await writePaced(res, body, pacer);
      this.stats.bytesServed += body.length;
    } finally {
      this.release(peer.name);
    }
  }

  private async piecesReady(image: ServedImage, range: { start: number; end: number }, waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    const first = Math.floor(range.start / image.manifest.pieceBytes);
    const last = Math.floor((range.end - 1) / image.manifest.pieceBytes);
    for (let i = first; i <= last; i++) {
      if (!(await image.waitFor(i, Math.max(0, deadline - Date.now())))) return false;
    }
    return true;
  }

  private authorize(req: IncomingMessage): { ok: true; name: string } | { ok: false; reason: string } {
    const cert = (req.socket as TLSSocket).getPeerCertificate();
    if (!cert || !cert.subject) return { ok: false, reason: 'no client certificate' };
    const id = identityOf(cert);
    if (this.options.tls.revocations?.isRevoked(id.serial)) return { ok: false, reason: `${describeIdentity(id)} is revoked` };
    if (id.role !== 'agent') return { ok: false, reason: `${describeIdentity(id)} is not an agent certificate: only agents fetch from peers` };
    return { ok: true, name: id.name };
  }

  private acquire(peer: string): boolean {
    const n = this.active.get(peer) ?? 0;
    if (n === 0 && this.active.size >= this.options.maxUploads) return false;
    this.active.set(peer, n + 1);
    this.stats.activePeers = this.active.size;
    return true;
  }

  private pacerFor(peer: string, rate: number): RatePacer {
    let pacer = this.pacers.get(peer);
    if (!pacer || pacer.rate !== rate) this.pacers.set(peer, (pacer = new RatePacer(rate)));
    return pacer;
  }

  private release(peer: string): void {
    const n = (this.active.get(peer) ?? 1) - 1;
    if (n > 0) this.active.set(peer, n);
    else {
      this.active.delete(peer);
      this.pacers.delete(peer);
    }
    this.stats.activePeers = this.active.size;
  }
}

/** Sends `body` in chunks no faster than the pacer allows, respecting backpressure; resolves when sent or the peer went away. */
async function writePaced(res: ServerResponse, body: Buffer, pacer: RatePacer): Promise<void> {
  for (let at = 0; at < body.length && !res.destroyed; at += WRITE_CHUNK) {
    const chunk = body.subarray(at, at + WRITE_CHUNK);
    await pacer.take(chunk.length);
    if (!res.write(chunk)) await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.once('drain', done);
      res.once('close', done);
    });
  }
  await new Promise<void>((resolve) => res.end(resolve));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function reply(res: ServerResponse, code: number, reason: string): void {
  res.writeHead(code, { [REASON_HEADER]: reason, 'content-length': 0 });
  res.end();
}
