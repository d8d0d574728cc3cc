import { readFile } from 'node:fs/promises';
import type { RevocationList } from '../../../shared/auth/revocation-list.js';
import type { Logger } from '../../../shared/logger.js';
import type { ServedImages } from './peer-server.js';
import { PeerServer } from './peer-server.js';
import { PeerConnections } from './peer-source.js';

/** The agent's peer settings (config images.peer) and its TLS files. */
export interface PeerEndpointConfig {
  listen: string;
  advertise: string;
  maxUploads: number;
  tls: { ca: string; cert: string; key: string };
}

/**
 * Both sides of peer-to-peer image transfer for one agent: the connections
 * it fetches pieces over, and the server it serves its cache from (started
 * once the cache is open).
 */
export class PeerEndpoint {
  private server: PeerServer | undefined;

  private constructor(
    private readonly config: PeerEndpointConfig,
    readonly connections: PeerConnections,
  ) {}

  /** Reads the agent's certificate, key and the site CA. */
  static async open(config: PeerEndpointConfig, revocations: RevocationList | undefined): Promise<PeerEndpoint> {
    const [ca, cert, key] = await Promise.all([readFile(config.tls.ca), readFile(config.tls.cert), readFile(config.tls.key)]);
    return new PeerEndpoint(config, new PeerConnections({ ca, cert, key, ...(revocations ? { revocations } : {}) }));
  }

  /** The URL peers reach this agent at. */
  get url(): string {
    return this.config.advertise;
  }

  /** Peers being served now. */
  activePeers(): number {
    return this.server?.stats.activePeers ?? 0;
  }

  /** Starts serving `images`; resolves with the bound port. */
  async serve(images: ServedImages, logger: Logger): Promise<number> {
    const server = new PeerServer({ tls: this.connections.tls, images, maxUploads: this.config.maxUploads, logger });
    const at = this.config.listen.lastIndexOf(':');
    const port = await server.listen(this.config.listen.slice(0, at), Number(this.config.listen.slice(at + 1)));
    this.server = server;
    logger.info({ listen: this.config.listen, advertise: this.config.advertise, maxUploads: this.config.maxUploads }, 'serving the image cache to peers');
    return port;
  }

  /** Stops serving and drops the connections to peers. */
  async close(): Promise<void> {
    await this.server?.close();
    this.connections.close();
  }
}
