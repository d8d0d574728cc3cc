import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { ImageCache, type ImageRequest } from '../../../../agent/images/image-cache.js';
import { PeerEndpoint } from '../../../../agent/images/peer/peer-endpoint.js';
import { PeerServer, type ServedImages } from '../../../../agent/images/peer/peer-server.js';
import { PieceHasher } from '../../../../agent/images/pieces/piece-manifest.js';
import { MANIFEST_SUFFIX } from '../../../../agent/images/pieces/repository-source.js';
import { ImageSourcePolicy } from '../../../../agent/images/source-policy.js';
import { silentLogger } from '../../../../shared/logger.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { startImageServer } from '../../../../scripts/testbed/lib/static-image-server.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const ROOT = path.resolve(import.meta.dirname, '../../../..');
const PIECE = 256 * 1024;
const SIZE = 3 * 1024 * 1024 + 12_345; // 13 pieces, the last one short

interface Peer {
  name: string;
  cache: ImageCache;
  endpoint: PeerEndpoint;
  url: string;
}

// Real ImageCaches with real PeerEndpoints (HTTPS, mutual TLS with
// certificates from scripts/pki/make-site-pki.sh) on 127.0.0.1, and a real
// HTTP repository that counts what it sends.
describe('peer-to-peer image transfer (agents on loopback)', function () {
  this.timeout(60_000);
  let dir: string;
  let pki: string;
  let repo: Server;
  let repoUrl: string;
  let repoBytes = 0;
  const image = randomBytes(SIZE);
  const sha256 = createHash('sha256').update(image).digest('hex');
  const peers: Peer[] = [];

  const tls = (name: string): { ca: string; cert: string; key: string } => ({ ca: path.join(pki, 'ca.pem'), cert: path.join(pki, `${name}.pem`), key: path.join(pki, `${name}-key.pem`) });
  const ref = (over: Partial<ImageRequest> = {}): ImageRequest => ({ url: `${repoUrl}/disk.img`, sha256, sizeBytes: SIZE, ...over });
  const peerRef = (p: Peer): { hostName: string; url: string } => ({ hostName: p.name, url: p.url });

  async function startPeer(name: string): Promise<Peer> {
    const endpoint = await PeerEndpoint.open({ listen: '127.0.0.1:0', advertise: 'https://127.0.0.1:1', maxUploads: 2, tls: tls(name) }, undefined);
    const cache = new ImageCache({
      dir: path.join(dir, name), budgetBytes: 64 * 1024 * 1024, policy: new ImageSourcePolicy([`${repoUrl}/`]), logger: silentLogger(),
      peers: endpoint.connections, pieces: { pieceBytes: PIECE, concurrency: 3, peerWaitMs: 5000 },
    });
    await cache.open();
    const port = await endpoint.serve(cache.asServedImages(), silentLogger());
    const peer = { name, cache, endpoint, url: `https://127.0.0.1:${port}` };
    peers.push(peer);
    return peer;
  }

  before(async () => {
    dir = await tempDir();
    pki = path.join(dir, 'pki');
    const agents = ['peer-a', 'peer-b', 'peer-c', 'peer-d', 'peer-e'].map((n) => `${n}:DNS:localhost,IP:127.0.0.1`);
    await runChecked(new ProcessRunner(), ['bash', path.join(ROOT, 'scripts/pki/make-site-pki.sh'), pki, '--role', 'agent', ...agents, '--role', 'reader', 'nosy']);
    const repoDir = path.join(dir, 'repo');
    await runChecked(new ProcessRunner(), ['mkdir', '-p', repoDir]);
    await writeFile(path.join(repoDir, 'disk.img'), image);
    const hasher = new PieceHasher(PIECE);
    hasher.update(image);
    await writeFile(path.join(repoDir, `disk.img${MANIFEST_SUFFIX}`), JSON.stringify(hasher.finish().manifest));
    repo = await startImageServer({ dir: repoDir, onServed: (n) => (repoBytes += n) }, '127.0.0.1', 0);
    repoUrl = `http://127.0.0.1:${(repo.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const p of peers) await p.endpoint.close();
    await new Promise((r) => repo.close(r));
  });

  it('pipelines one image down a chain of three hosts fetched at once: every host verified, the repository sends it once', async () => {
    const [a, b, c] = [await startPeer('peer-a'), await startPeer('peer-b'), await startPeer('peer-c')];
    repoBytes = 0;
    const results = await Promise.all([
      a.cache.ensure(ref()),
      b.cache.ensure(ref({ peers: [peerRef(a)] })),
      c.cache.ensure(ref({ peers: [peerRef(b), peerRef(a)] })),
    ]);
    for (const r of results) {
      expect(r.cacheHit).to.equal(false);
      expect(createHash('sha256').update(await readFile(r.path)).digest('hex')).to.equal(sha256);
    }
    // The manifest (a few hundred bytes) and one copy of the image: B and C took every piece from peers.
    expect(repoBytes).to.be.within(SIZE, SIZE + 8192);
    expect(a.cache.holdings()).to.deep.include({ sha256, sizeBytes: SIZE, verifiedBytes: SIZE, complete: true });
  });

  it('rejects a corrupted piece from a peer, drops that peer and takes the piece elsewhere', async () => {
    const d = await startPeer('peer-d');
    // A test double of a bad peer, named as such: a real PeerServer with peer-e's certificate whose bytes are flipped.
    const honest = peers[0]!.cache;
    const corrupting: ServedImages = {
      served: async (sha, waitMs) => {
        const real = await honest.served(sha, waitMs);
        return real && { ...real, read: async (s, e) => Buffer.from((await real.read(s, e)).map((x) => x ^ 0xff)) };
      },
    };
    const liarEndpoint = await PeerEndpoint.open({ listen: '127.0.0.1:0', advertise: 'https://127.0.0.1:1', maxUploads: 2, tls: tls('peer-e') }, undefined);
    const liar = new PeerServer({ tls: liarEndpoint.connections.tls, images: corrupting, maxUploads: 2, logger: silentLogger() });
    const liarPort = await liar.listen('127.0.0.1', 0);
    try {
      repoBytes = 0;
      const r = await d.cache.ensure(ref({ peers: [{ hostName: 'peer-e', url: `https://127.0.0.1:${liarPort}` }, peerRef(peers[0]!)] }));
      expect(createHash('sha256').update(await readFile(r.path)).digest('hex')).to.equal(sha256);
      expect(liar.stats.requests).to.be.greaterThan(0);
      // Every piece came from the honest peer: none from the repository.
      expect(repoBytes).to.be.below(8192);
    } finally {
      await liar.close();
      liarEndpoint.connections.close();
    }
  });

  it('serves nothing to a client without an agent certificate', async () => {
    const a = peers[0]!;
    const nosy = tls('nosy');
    const code = await new Promise<number>((resolve, reject) => {
      https.get(`${a.url}/v1/images/${sha256}`, { ca: readFileSync(nosy.ca), cert: readFileSync(nosy.cert), key: readFileSync(nosy.key), headers: { range: 'bytes=0-99' }, checkServerIdentity: () => undefined }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(code).to.equal(403);
  });
});
