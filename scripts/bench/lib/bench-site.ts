import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { ProcessRunner, runChecked } from '../../../shared/process/command-runner.js';
import { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { channelCredentials, type TlsFiles } from '../../../shared/rpc/credentials.js';
import { freePort } from '../../testbed/lib/free-port.js';
import type { BenchChild, BenchProcesses } from './bench-processes.js';
import { simulatedHostName } from './simulated-agent.js';

/** Repository root. */
export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

/** How the site is built. */
export interface BenchSiteOptions {
  dir: string;
  poolSize: number;
  /** Simulated agents: each gets its own agent certificate named after its host (the coordinator binds a registration to it). */
  agents: number;
  /** Agents' heartbeat interval in seconds (downAfter is three of them). */
  heartbeatS: number;
  insecure: boolean;
  maxConcurrentTransfers: number;
  /** Extra node flags for the coordinator (e.g. --cpu-prof). */
  nodeArgs: string[];
  /**
   * Extra top-level sections of coordinator.yaml (e.g. `console`), spread last
   * into the config prepare() writes, so a key here replaces the site's own.
   * Default: none.
   */
  coordinatorConfig?: Record<string, unknown>;
}

/** Pool triple number `i` (0-based): vwn-0001.., 10.80.x.y, 52:54:00:80:xx:yy. */
export function poolTriple(i: number): { hostname: string; ip: string; mac: string } {
  const n = i + 1;
  const hex = (v: number): string => v.toString(16).padStart(2, '0');
  return { hostname: `vwn-${String(n).padStart(4, '0')}`, ip: `10.80.${Math.floor(n / 250)}.${(n % 250) + 1}`, mac: `52:54:00:80:${hex(n >> 8)}:${hex(n & 255)}` };
}

/**
 * The coordinator to run: the compiled dist/coordinator/main.js, built first
 * (tsc is incremental, so this costs seconds when little changed), so the
 * benchmark measures the current code as a site runs it, never stale output
 * and never the tsx loader.
 */
export async function buildCoordinator(): Promise<{ script: string; why: string }> {
  await runChecked(new ProcessRunner(), [process.execPath, path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { timeoutMs: 600_000 });
  return { script: path.join(ROOT, 'dist/coordinator/main.js'), why: 'built from the current sources' };
}

/**
 * The benchmark's site on loopback: mutual-TLS PKI (scripts/pki, one role
 * certificate per simulated agent) unless insecure, a file:///
 * appliance with its sha256, the bio 2 : fusion 5 policy, a large pool and
 * one real vonode-coordinator process.
 */
export class BenchSite {
  port = 0;
  metricsPort = 0;
  pki = '';
  /** Time make-site-pki.sh took for the whole site (one certificate per simulated agent). */
  pkiSeconds = 0;
  coordinator: BenchChild | undefined;
  entry: { script: string; why: string } = { script: '', why: '' };
  private configFile = '';
  /** Client URLs of the etcd cluster holding the state (useEtcd), or undefined for SQLite. */
  private etcdEndpoints: string[] | undefined;

  constructor(private readonly options: BenchSiteOptions) {}

  /**
   * The state on etcd instead of SQLite (call before prepare()): the
   * coordinator gets `store.etcd` (these client URLs, prefix /vonode/, lease
   * TTL 2 s) and `advertise` = its listen address, campaigns, and leads alone.
   */
  useEtcd(endpoints: readonly string[]): void {
    this.etcdEndpoints = [...endpoints];
  }

  /** TLS files of a party, or undefined when insecure. */
  tls(name: string): TlsFiles | undefined {
    if (this.options.insecure) return undefined;
    return { ca: path.join(this.pki, 'ca.pem'), cert: path.join(this.pki, `${name}.pem`), key: path.join(this.pki, `${name}-key.pem`) };
  }

  /** Writes PKI, appliance, policy and config. Throws if openssl or a write fails. */
  async prepare(): Promise<void> {
    const { dir, poolSize, insecure } = this.options;
    await mkdir(dir, { recursive: true });
    this.entry = await buildCoordinator();
    this.pki = path.join(dir, 'pki');
    if (!insecure) {
      const san = 'DNS:localhost,IP:127.0.0.1';
      const agents = Array.from({ length: this.options.agents }, (_, i) => `${simulatedHostName(i + 1)}:${san}`);
      const t0 = performance.now();
      await runChecked(new ProcessRunner(), ['bash', path.join(ROOT, 'scripts/pki/make-site-pki.sh'), this.pki, '--role', 'coordinator', `coordinator:${san}`, '--role', 'admin', 'cli', '--role', 'agent', ...agents]);
      this.pkiSeconds = (performance.now() - t0) / 1000;
    }
    const bytes = randomBytes(1024 * 1024);
    const image = path.join(dir, 'appliance.img');
    await writeFile(image, bytes);
    const disk = { url: `file://${image}`, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    const vo = (weight: number, queue: string): Record<string, unknown> => ({
      weight, min: 0, max: poolSize, queue, vm: { vcpus: 1, memory: '512MiB' }, appliance: { disk },
    });
    const policyFile = path.join(dir, 'policy.yaml');
    await writeFile(policyFile, stringify({ cooldowns: { scaleUp: '10s', scaleDown: '60s' }, vos: { bio: vo(2, 'bio.q'), fusion: vo(5, 'fusion.q') } }));
    this.port = await freePort();
    this.metricsPort = await freePort();
    this.configFile = path.join(dir, 'coordinator.yaml');
    const listen = `127.0.0.1:${this.port}`;
    const store = this.etcdEndpoints ? { store: { etcd: { endpoints: this.etcdEndpoints, prefix: '/vonode/', leaseTtl: '2s' } }, advertise: listen } : {};
    await writeFile(this.configFile, stringify({
      site: 'bench-site', listen, stateDb: path.join(dir, 'coordinator/state.db'), ...store, policyFile,
      pool: Array.from({ length: poolSize }, (_, i) => poolTriple(i)),
      agents: { heartbeatInterval: `${this.options.heartbeatS}s`, downAfter: `${3 * this.options.heartbeatS}s` },
      deploy: { maxConcurrentTransfers: this.options.maxConcurrentTransfers },
      metrics: { listen: `127.0.0.1:${this.metricsPort}` },
      ...(insecure ? {} : { tls: this.tls('coordinator') }),
      ...this.options.coordinatorConfig,
    }));
  }

  /**
   * Starts the coordinator process and waits (≤ 30 s) until it answers gRPC
   * and, on etcd, until it leads (Status cluster.role 'leader': it serves as a
   * standby first, and refuses registrations until elected). Throws if it does not.
   */
  async startCoordinator(processes: BenchProcesses): Promise<BenchChild> {
    const args = ['--config', this.configFile, ...(this.options.insecure ? ['--insecure'] : [])];
    this.coordinator = processes.spawnNode('coordinator', this.entry.script, args, path.join(this.options.dir, 'coordinator.log'), {
      cwd: ROOT, env: { ...process.env, VONODE_LOG_LEVEL: process.env['VONODE_LOG_LEVEL'] ?? 'info' }, nodeArgs: this.options.nodeArgs,
    });
    const client = this.client();
    try {
      await client.waitReady(30_000);
      if (this.etcdEndpoints) await this.waitLeading(client, 30_000);
    } finally {
      client.close();
    }
    return this.coordinator;
  }

  /** Polls Status until the coordinator says it leads; throws after `timeoutMs`. */
  private async waitLeading(client: CoordinatorClient, timeoutMs: number): Promise<void> {
    const end = performance.now() + timeoutMs;
    let last = '';
    while (performance.now() < end) {
      const role = await client.status(2000).then((s) => s.cluster?.role ?? '', (e: unknown) => `no answer (${e instanceof Error ? e.message : String(e)})`);
      if (role === 'leader') return;
      last = role;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the coordinator did not lead within ${timeoutMs / 1000} s (last role: ${last || 'none'}); see ${path.join(this.options.dir, 'coordinator.log')}`);
  }

  /** Channel credentials of one of the site's certificates (plaintext when insecure). */
  credentials(name: string): ChannelCredentials {
    return channelCredentials(this.tls(name), this.options.insecure, 'benchmark');
  }

  /** A CLI-side client (the `cli` certificate). */
  client(): CoordinatorClient {
    // The certificate names localhost too; naming it avoids Node's warning about an IP as TLS server name.
    const options = this.options.insecure ? {} : { 'grpc.ssl_target_name_override': 'localhost' };
    return new CoordinatorClient(`127.0.0.1:${this.port}`, channelCredentials(this.tls('cli'), this.options.insecure, 'benchmark'), options);
  }
}
