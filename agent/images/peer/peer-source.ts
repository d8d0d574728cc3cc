import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { serverIdentityCheck } from '../../../shared/auth/server-identity-check.js';
import type { RevocationList } from '../../../shared/auth/revocation-list.js';
import { readExactly, SourceError, type PieceSource, type RangeOptions } from '../pieces/piece-source.js';
import { imagePath, MANIFEST_PATH_SUFFIX, RATE_HEADER, WAIT_HEADER } from './peer-protocol.js';

const IDLE_TIMEOUT_MS = 20_000;

/** The agent's TLS material towards its peers: its own agent certificate and the site CA. */
export interface PeerTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  revocations?: RevocationList;
}

/**
 * One HTTPS agent (connection pool) for all of this host's peer fetches:
 * mutual TLS with the site certificates. Each request checks that the
 * server's certificate is the agent certificate of the host the
 * coordinator named (and not revoked).
 */
export class PeerConnections {
  readonly agent: https.Agent;

  constructor(readonly tls: PeerTls) {
    this.agent = new https.Agent({ ca: tls.ca, cert: tls.cert, key: tls.key, keepAlive: true, maxSockets: 8 });
  }

  /** A source for one peer. */
  source(hostName: string, baseUrl: string): PeerSource {
    return new PeerSource(hostName, new URL(baseUrl), this);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Another agent serving its verified pieces (agent/images/peer/peer-server.ts). */
export class PeerSource implements PieceSource {
  readonly kind = 'peer' as const;

  constructor(
    readonly name: string,
    private readonly base: URL,
    private readonly connections: PeerConnections,
  ) {}

  fetchRange(sha256: string, start: number, end: number, opts: RangeOptions): Promise<Buffer> {
    const what = `peer ${this.name} image ${sha256.slice(0, 12)} bytes ${start}-${end - 1}`;
    const headers = { range: `bytes=${start}-${end - 1}`, [WAIT_HEADER]: String(opts.waitMs), ...(opts.pacer.limited ? { [RATE_HEADER]: String(Math.floor(opts.pacer.rate)) } : {}) };
    return this.request(imagePath(sha256), headers, opts.signal, async (res) => {
      if (res.statusCode === 206) return readExactly(res, end - start, what, opts);
      res.resume();
      throw failureOf(res, what);
    });
  }

  fetchManifest(sha256: string, signal?: AbortSignal): Promise<string | undefined> {
    // A peer told to fetch the image at the same time as this host may not have started: it holds the request a moment.
    return this.request(imagePath(sha256) + MANIFEST_PATH_SUFFIX, { [WAIT_HEADER]: '3000' }, signal, async (res) => {
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      if (res.statusCode !== 200) {
        res.resume();
        throw failureOf(res, `peer ${this.name} manifest`);
      }
      const length = Number(res.headers['content-length'] ?? NaN);
      if (!(length > 0 && length <= 16 * 1024 * 1024)) throw new SourceError(`peer ${this.name}: manifest without a valid length`, 'failed');
      return (await readExactly(res, length, `peer ${this.name} manifest`, { signal })).toString('utf8');
    });
  }

  private request<T>(path: string, headers: Record<string, string>, signal: AbortSignal | undefined, onResponse: (res: IncomingMessage) => Promise<T>): Promise<T> {
    const url = new URL(path, this.base);
    return new Promise<T>((resolve, reject) => {
      const req = https.get(url, {
        agent: this.connections.agent,
        headers,
        checkServerIdentity: serverIdentityCheck({ role: 'agent', name: this.name, ...(this.connections.tls.revocations ? { revocations: this.connections.tls.revocations } : {}) }),
        ...(signal ? { signal } : {}),
      }, (res) => {
        onResponse(res).then(resolve, (e: unknown) => reject(e instanceof SourceError || (e as Error).name === 'AbortError' ? e : new SourceError(`peer ${this.name}: ${(e as Error).message}`, 'down')));
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new SourceError(`peer ${this.name}: no data for ${IDLE_TIMEOUT_MS / 1000} s`, 'down')));
      req.on('error', (e) => reject(e instanceof SourceError || e.name === 'AbortError' ? e : new SourceError(`peer ${this.name}: ${e.message}`, 'down')));
    });
  }
}

function failureOf(res: IncomingMessage, what: string): SourceError {
  const code = res.statusCode ?? 0;
  const why = typeof res.headers['x-vonode-reason'] === 'string' ? `: ${res.headers['x-vonode-reason']}` : '';
  if (code === 404) return new SourceError(`${what}: not held${why}`, 'absent');
  if (code === 503) return new SourceError(`${what}: busy${why}`, 'busy');
  return new SourceError(`${what}: HTTP ${code}${why}`, 'failed');
}
