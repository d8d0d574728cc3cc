import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { stringify } from 'yaml';
import { AGENT_NODE_FLAGS } from '../../../agent/node-flags.js';
import { PieceHasher, type PieceManifest } from '../../../agent/images/pieces/piece-manifest.js';
import { MANIFEST_SUFFIX } from '../../../agent/images/pieces/repository-source.js';
import { ProcessRunner, runChecked, type CommandRunner } from '../../../shared/process/command-runner.js';
import { FanoutLan, type LanMember } from './fanout-lan.js';
import { builtNode, TestbedProcess, tsNode } from './testbed-process.js';

/** Options of a fan-out site. */
export interface FanoutSiteOptions {
  /** Namespace prefix (≤ 6 chars) and /24 (three octets) of the LAN. */
  prefix: string;
  subnet: string;
  hosts: number;
  hostLinkMbit: number;
  repoLinkMbit: number;
  imageBytes: number;
  /** Piece size of the repository's manifest (default 1 MiB); 0: publish no manifest. */
  pieceBytes?: number;
  workDir: string;
  /** Agents serve and use peers (default true); false: every host downloads from the repository only. */
  peers?: boolean;
  /** Policy `prefetch` of the VO, if any. */
  prefetch?: { hosts: number | 'all'; when: 'always' | 'idle' };
  /** Extra coordinator config (merged over the defaults), e.g. { transfers: {...} }. */
  coordinator?: Record<string, unknown>;
  /** Run dist/ (npm run build) instead of the sources through tsx. */
  useBuild?: boolean;
  runner?: CommandRunner;
}

export const COORDINATOR_PORT = 7000;
export const AGENT_PORT = 7070;
export const PEER_PORT = 7071;
export const REPO_PORT = 8080;
export const VO = 'bio';

/**
 * A site on a FanoutLan for image distribution tests and benchmarks: an
 * image repository (the testbed's HTTP server) in its namespace, a real
 * vonode-coordinator in the switch namespace, and a real vonode-agent per
 * host namespace (simulated hypervisor: no guest boots; the image transfers,
 * TLS, heartbeats and placement are all real), with certificates from
 * scripts/pki/make-site-pki.sh. Every process it starts it stops, by PID.
 */
export class FanoutSite {
  readonly lan: FanoutLan;
  readonly pki: string;
  image: { sha256: string; sizeBytes: number; url: string; manifest?: PieceManifest } = { sha256: '', sizeBytes: 0, url: '' };
  private readonly runner: CommandRunner;
  private repo: TestbedProcess | undefined;
  private coordinator: TestbedProcess | undefined;
  readonly agents = new Map<string, TestbedProcess>();

  constructor(readonly options: FanoutSiteOptions) {
    this.runner = options.runner ?? new ProcessRunner();
    this.lan = new FanoutLan({ prefix: options.prefix, subnet: options.subnet, hosts: options.hosts, hostLinkMbit: options.hostLinkMbit, repoLinkMbit: options.repoLinkMbit, runner: this.runner });
    this.pki = path.join(options.workDir, 'pki');
  }

  get hosts(): LanMember[] {
    return this.lan.hosts;
  }

  get coordinatorAddress(): string {
    return `${this.lan.lan.ip}:${COORDINATOR_PORT}`;
  }

  /** Builds the LAN, PKI and image, and starts the repository, the coordinator and every agent. */
  async start(): Promise<void> {
    await rm(this.options.workDir, { recursive: true, force: true });
    await mkdir(this.options.workDir, { recursive: true });
    await this.lan.create();
    await this.makePki();
    await this.publishImage();
    await this.startRepository();
    await this.startCoordinator();
    for (const host of this.hosts) await this.startAgent(host);
  }

  /** Stops every process and deletes the namespaces. */
  async stop(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop(5000, 'SIGTERM')));
    await this.coordinator?.stop(5000);
    await this.repo?.stop(5000);
    await this.lan.destroy();
  }

  /** argv of the admin CLI inside the switch namespace, connected to the coordinator. */
  cli(args: readonly string[]): string[] {
    const conn = ['--coordinator', this.coordinatorAddress, '--ca', path.join(this.pki, 'ca.pem'), '--cert', path.join(this.pki, 'cli.pem'), '--key', path.join(this.pki, 'cli-key.pem')];
    return this.lan.lan.exec(this.node('coordinator/cli/main.ts', [...conn, ...args]));
  }

  /** argv of the fan-out driver (scripts/testbed/fanout-driver.ts) inside the switch namespace. */
  driver(args: readonly string[]): string[] {
    const conn = ['--coordinator', this.coordinatorAddress, '--pki', this.pki];
    return this.lan.lan.exec(tsNode('scripts/testbed/fanout-driver.ts', [...conn, ...args]));
  }

  /** The agent process of a host. */
  agent(host: LanMember): TestbedProcess {
    const a = this.agents.get(host.name);
    if (!a) throw new Error(`no agent on ${host.name}`);
    return a;
  }

  /** Stops the image repository (the site's repository going away). */
  async stopRepository(): Promise<void> {
    await this.repo?.stop(5000);
  }

  /** Flips the bytes of one piece of the current image in a host's cached copy (a disk fault the host does not notice). */
  async damageCachedPiece(host: LanMember, piece: number): Promise<void> {
    const pieceBytes = this.image.manifest?.pieceBytes ?? 1024 * 1024;
    const handle = await open(path.join(this.stateDir(host), 'images', 'blobs', this.image.sha256), 'r+');
    try {
      const buf = Buffer.alloc(4096);
      await handle.read(buf, 0, buf.length, piece * pieceBytes);
      await handle.write(buf.map((b) => b ^ 0xff), 0, buf.length, piece * pieceBytes);
    } finally {
      await handle.close();
    }
  }

  /** Bytes of the verified image in a host's cache, or 0. */
  async cachedBytes(host: LanMember): Promise<number> {
    const index = await readFile(path.join(this.stateDir(host), 'images', 'index.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, { sizeBytes: number }>, () => ({}) as Record<string, { sizeBytes: number }>);
    return index[this.image.sha256]?.sizeBytes ?? 0;
  }

  /** The sha256 of a host's cached copy (reads the whole file). */
  async cachedDigest(host: LanMember): Promise<string> {
    const data = await readFile(path.join(this.stateDir(host), 'images', 'blobs', this.image.sha256)).catch(() => Buffer.alloc(0));
    return createHash('sha256').update(data).digest('hex');
  }

  stateDir(host: LanMember): string {
    return path.join(this.options.workDir, host.name, 'state');
  }

  private node(entry: string, args: readonly string[], flags: readonly string[] = []): string[] {
    return this.options.useBuild ? builtNode(entry, args, flags) : tsNode(entry, args, flags);
  }

  private async makePki(): Promise<void> {
    const agents = this.hosts.map((h) => `${h.name}:IP:${h.ip}`);
    await runChecked(this.runner, ['bash', path.join(import.meta.dirname, '../../pki/make-site-pki.sh'), this.pki,
      '--role', 'coordinator', `coordinator:IP:${this.lan.lan.ip}`, '--role', 'admin', 'cli', '--role', 'agent', ...agents]);
  }

  /**
   * Publishes a new image (random bytes) on the repository and makes it the
   * VO's appliance (the coordinator reloads the policy; resolves once it has),
   * optionally with a prefetch rule.
   */
  async useNewImage(name: string, prefetch?: FanoutSiteOptions['prefetch']): Promise<void> {
    await this.publishImage(name);
    const sha = await this.writePolicy(prefetch);
    await runChecked(this.runner, this.driver(['wait-policy', '--sha', sha]));
  }

  /** Random bytes (no two runs share an image) and, unless pieceBytes is 0, its manifest beside it. */
  private async publishImage(name = 'disk.img'): Promise<void> {
    const dir = path.join(this.options.workDir, 'repo');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, name);
    const pieceBytes = this.options.pieceBytes ?? 1024 * 1024;
    const hasher = new PieceHasher(pieceBytes || 1024 * 1024);
    const out = createWriteStream(file);
    for (let left = this.options.imageBytes; left > 0; ) {
      const chunk = randomBytes(Math.min(left, 1024 * 1024));
      hasher.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      left -= chunk.length;
    }
    out.end();
    await once(out, 'finish');
    const { sha256, manifest } = hasher.finish();
    if (pieceBytes) await writeFile(`${file}${MANIFEST_SUFFIX}`, JSON.stringify(manifest));
    this.image = { sha256, sizeBytes: this.options.imageBytes, url: `http://${this.lan.repo.ip}:${REPO_PORT}/${name}`, ...(pieceBytes ? { manifest } : {}) };
  }

  /** Starts (or restarts) the image repository. */
  async startRepository(): Promise<void> {
    const args = ['--dir', path.join(this.options.workDir, 'repo'), '--host', this.lan.repo.ip, '--port', String(REPO_PORT)];
    await this.repo?.stop(5000);
    this.repo = new TestbedProcess('image repository', this.lan.repo.exec(tsNode('scripts/testbed/image-repo-server.ts', args)), path.join(this.options.workDir, 'repo.log'));
    this.repo.start();
    await this.repo.waitUntil('serving', async () => (await this.repo!.logTail()).includes('image repository on'), 20_000);
  }

  private tls(name: string): Record<string, string> {
    return { ca: path.join(this.pki, 'ca.pem'), cert: path.join(this.pki, `${name}.pem`), key: path.join(this.pki, `${name}-key.pem`), crl: path.join(this.pki, 'crl.pem') };
  }

  private async startCoordinator(): Promise<void> {
    const dir = path.join(this.options.workDir, 'coordinator');
    await mkdir(dir, { recursive: true });
    const n = this.hosts.length;
    const pool = Array.from({ length: n * 8 }, (_, i) => ({
      hostname: `vwn-${String(i + 1).padStart(3, '0')}`, ip: `10.250.${Math.floor(i / 200)}.${10 + (i % 200)}`, mac: `52:54:00:fa:${Math.floor(i / 200).toString(16).padStart(2, '0')}:${(10 + (i % 200)).toString(16).padStart(2, '0')}`,
    }));
    const policyFile = this.policyFile;
    await this.writePolicy(this.options.prefetch);
    const configFile = path.join(dir, 'coordinator.yaml');
    await writeFile(configFile, stringify({
      site: 'fanout', listen: this.coordinatorAddress, stateDb: path.join(dir, 'state.db'), policyFile, pool,
      agents: { heartbeatInterval: '500ms', downAfter: '3s' },
      deploy: { maxConcurrentTransfers: 1000, phaseTimeouts: { PT: '30m' } },
      transfers: { repositoryMbit: this.options.repoLinkMbit, defaultHostMbit: this.options.hostLinkMbit },
      tls: this.tls('coordinator'),
      ...this.options.coordinator,
    }));
    this.coordinator = new TestbedProcess('vonode-coordinator', this.lan.lan.exec(this.node('coordinator/main.ts', ['--config', configFile])), path.join(dir, 'coordinator.log'));
    this.coordinator.start();
    await this.coordinator.waitUntil('serving', async () => (await this.coordinator!.logTail(20_000)).includes('coordinator serving'), 30_000);
  }

  private get policyFile(): string {
    return path.join(this.options.workDir, 'coordinator', 'policy.yaml');
  }

  /** Writes the policy for the current image; returns the file's sha256 (as `vonode status` reports it). */
  private async writePolicy(prefetch: FanoutSiteOptions['prefetch']): Promise<string> {
    const max = this.hosts.length * 8;
    const text = stringify({
      cooldowns: { scaleUp: '1s', scaleDown: '1s' },
      vos: { [VO]: { min: 0, max, queue: 'bio.q', vm: { vcpus: 1, memory: '64MiB' }, appliance: { disk: { url: this.image.url, sha256: this.image.sha256, size: this.image.sizeBytes } }, ...(prefetch ? { prefetch } : {}) } },
    });
    await writeFile(this.policyFile, text);
    return createHash('sha256').update(text).digest('hex');
  }

  /** Starts (or restarts) a host's agent; resolves once it serves. */
  async startAgent(host: LanMember): Promise<void> {
    const dir = path.join(this.options.workDir, host.name);
    const stateDir = this.stateDir(host);
    const hostsDir = path.join(dir, 'dhcp-hosts');
    await mkdir(hostsDir, { recursive: true });
    const configFile = path.join(dir, 'agent.yaml');
    const peers = this.options.peers ?? true;
    await writeFile(configFile, stringify({
      listen: `${host.ip}:${AGENT_PORT}`, hostName: host.name, stateDir,
      hypervisor: { driver: 'simulated', simulated: { startDelay: '50ms', bootDelay: '300ms' } },
      dhcp: { backend: 'dnsmasq', dnsmasq: { hostsDir, leaseFile: path.join(dir, 'dnsmasq.leases') } },
      images: {
        sources: [`http://${this.lan.repo.ip}:${REPO_PORT}/`], budget: '20GiB',
        ...(peers ? { peer: { listen: `${host.ip}:${PEER_PORT}`, advertise: `https://${host.ip}:${PEER_PORT}`, maxUploads: 2 } } : {}),
      },
      coordinator: { address: this.coordinatorAddress, advertise: `${host.ip}:${AGENT_PORT}` },
      tls: this.tls(host.name),
    }));
    const agent = new TestbedProcess(`vonode-agent ${host.name}`, host.exec(this.node('agent/main.ts', ['--config', configFile], [...AGENT_NODE_FLAGS, ...(process.env['VONODE_AGENT_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['VONODE_AGENT_PROF']}`] : [])])), path.join(dir, 'agent.log'));
    this.agents.set(host.name, agent);
    agent.start();
    await agent.waitUntil('serving', async () => (await agent.logTail(50_000)).includes('agent serving'), 30_000);
  }
}
