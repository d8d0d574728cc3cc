import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { AgentClient } from '../../shared/rpc/agent-client.js';
import { CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { channelCredentials } from '../../shared/rpc/credentials.js';
import { ProcessRunner, runChecked } from '../../shared/process/command-runner.js';
import { freePort } from '../../scripts/testbed/lib/free-port.js';
import { repoNode } from '../../scripts/testbed/lib/testbed-process.js';
import { tempDir } from './agent-fakes.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const LOOPBACK = 'DNS:localhost,IP:127.0.0.1';

/**
 * The site's certificates besides the agents' (scripts/pki/make-site-pki.sh
 * arguments): `cli` is an admin, and one certificate per other role so tests
 * can call as any of them.
 */
const SITE_CERTIFICATES = [
  '--role', 'coordinator', `coordinator:${LOOPBACK}`, '--role', 'admin', 'cli', '--role', 'operator', 'operator',
  '--role', 'reader', 'reader', '--role', 'gridway', 'gridway', '--role', 'infosys', 'infosys',
];

/** An agent of the site: a real vonode-agent process with the simulated hypervisor driver. */
export interface SiteAgent {
  name: string;
  port: number;
  stateDir: string;
  hostsDir: string;
  configFile: string;
  proc?: ChildProcess;
}

/** Options of the test site. */
export interface SiteOptions {
  agents: Array<{ name: string; failStart?: boolean; bootDelay?: string; simulated?: Record<string, unknown> }>;
  poolSize: number;
  /** The pool's (hostname, IP) pairs when they must match a cluster's addresses (default vwn-001… on 10.77.0.x). */
  poolAddresses?: Array<{ hostname: string; ip: string }>;
  /** The policy, or a function of the site's test appliance returning it (default: defaultPolicy()). */
  policy?: Record<string, unknown> | ((appliance: { disk: { url: string; sha256: string } }) => Record<string, unknown>);
  coordinator?: Record<string, unknown>;
}

/**
 * A whole site on loopback for integration tests: a site CA and mutual-TLS
 * certificates (scripts/pki), a real vonode-coordinator process and real
 * vonode-agent processes using the SIMULATED hypervisor driver (no VM boots;
 * real DHCP backend files, real lease watching, real gRPC). Every process is
 * started and killed by PID here.
 */
export class TestSite {
  dir = '';
  pki = '';
  coordinatorPort = 0;
  coordinatorConfig = '';
  policyFile = '';
  image = { url: '', sha256: '' };
  coordinatorProc: ChildProcess | undefined;
  readonly agents: SiteAgent[] = [];
  private readonly logs: string[] = [];

  constructor(private readonly options: SiteOptions) {}

  /** Writes PKI, image, policy and configs, then starts the coordinator and every agent. */
  async start(): Promise<void> {
    this.dir = await tempDir('vonode-site-');
    this.pki = path.join(this.dir, 'pki');
    await runChecked(new ProcessRunner(), ['bash', path.join(ROOT, 'scripts/pki/make-site-pki.sh'), this.pki, ...SITE_CERTIFICATES, '--role', 'agent', ...this.options.agents.map((a) => `${a.name}:${LOOPBACK}`)]);
    const bytes = randomBytes(64 * 1024);
    // The site's image repository: a directory of its own, the only source the agents allow (not the PKI next to it).
    await mkdir(this.repoDir, { recursive: true });
    await writeFile(path.join(this.repoDir, 'appliance.img'), bytes);
    this.image = { url: pathToFileURL(path.join(this.repoDir, 'appliance.img')).href, sha256: createHash('sha256').update(bytes).digest('hex') };
    this.policyFile = path.join(this.dir, 'policy.yaml');
    const policy = this.options.policy;
    const appliance = { disk: { url: this.image.url, sha256: this.image.sha256 } };
    await writeFile(this.policyFile, stringify(typeof policy === 'function' ? policy(appliance) : (policy ?? this.defaultPolicy())));
    this.coordinatorPort = await freePort();
    this.coordinatorConfig = path.join(this.dir, 'coordinator.yaml');
    await writeFile(this.coordinatorConfig, stringify(this.coordinatorYaml()));
    await this.startCoordinator();
    for (const a of this.options.agents) {
      const agent = await this.writeAgent(a.name, a.failStart ?? false, a.bootDelay ?? '300ms', a.simulated ?? {});
      this.agents.push(agent);
      this.startAgent(agent);
    }
  }

  /** The policy used unless the test gives one: bio 2 : fusion 5, both on the test appliance. */
  defaultPolicy(): Record<string, unknown> {
    const appliance = { disk: { url: this.image.url, sha256: this.image.sha256 } };
    return {
      cooldowns: { scaleUp: '1s', scaleDown: '1s' },
      vos: {
        bio: { weight: 2, min: 0, max: 50, queue: 'bio.q', vm: { vcpus: 1, memory: '64MiB' }, appliance },
        fusion: { weight: 5, min: 0, max: 50, queue: 'fusion.q', vm: { vcpus: 1, memory: '64MiB' }, appliance },
      },
    };
  }

  /** Starts (or restarts) the coordinator process and waits until it answers. */
  async startCoordinator(): Promise<void> {
    this.coordinatorProc = this.spawnDaemon('coordinator/main.ts', ['--config', this.coordinatorConfig], 'coordinator');
    const client = this.client();
    try {
      await client.waitReady(20_000);
    } finally {
      client.close();
    }
  }

  /** Starts an agent process. */
  startAgent(agent: SiteAgent): void {
    agent.proc = this.spawnDaemon('agent/main.ts', ['--config', agent.configFile], agent.name);
  }

  /** SIGKILLs a process we started. */
  kill(proc: ChildProcess | undefined): Promise<void> {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    process.kill(proc.pid!, 'SIGKILL');
    return exited;
  }

  /** A client of the coordinator with one of the site's certificates (default `cli`, an admin). */
  client(certificate = 'cli'): CoordinatorClient {
    return new CoordinatorClient(`127.0.0.1:${this.coordinatorPort}`, channelCredentials(this.tls(certificate), false, 'test'));
  }

  /** A client of one agent's AgentService (with the coordinator's certificate). */
  agentClient(agent: SiteAgent): AgentClient {
    return new AgentClient(`127.0.0.1:${agent.port}`, channelCredentials(this.tls('coordinator'), false, 'test'));
  }

  /** Files in an agent's DHCP hosts dir (one per reservation). */
  async dhcpFiles(agent: SiteAgent): Promise<string[]> {
    return (await readdir(agent.hostsDir)).filter((f) => !f.startsWith('.'));
  }

  /** Kills everything (by PID) and keeps logs for a failing test. */
  async stop(): Promise<void> {
    await this.kill(this.coordinatorProc);
    for (const a of this.agents) await this.kill(a.proc);
  }

  /** Recent daemon output, for assertion messages. */
  recentLogs(lines = 40): string {
    return this.logs.slice(-lines).join('\n');
  }

  /** The directory of the site's image repository (file:// URLs; the agents' only images.sources entry). */
  get repoDir(): string {
    return path.join(this.dir, 'repo');
  }

  /** TLS files of one of the site's certificates, with the site CRL. */
  tls(name: string): { ca: string; cert: string; key: string; crl: string } {
    return { ca: path.join(this.pki, 'ca.pem'), cert: path.join(this.pki, `${name}.pem`), key: path.join(this.pki, `${name}-key.pem`), crl: path.join(this.pki, 'crl.pem') };
  }

  /** Revokes site certificates (make-site-pki.sh --revoke): crl.pem is re-signed and the daemons reload it. */
  async revoke(...names: string[]): Promise<void> {
    await runChecked(new ProcessRunner(), ['bash', path.join(ROOT, 'scripts/pki/make-site-pki.sh'), this.pki, '--revoke', ...names]);
  }

  private coordinatorYaml(): Record<string, unknown> {
    const pool = Array.from({ length: this.options.poolSize }, (_, i) => ({
      hostname: this.options.poolAddresses?.[i]?.hostname ?? `vwn-${String(i + 1).padStart(3, '0')}`,
      ip: this.options.poolAddresses?.[i]?.ip ?? `10.77.0.${10 + i}`,
      mac: `52:54:00:77:00:${(16 + i).toString(16).padStart(2, '0')}`,
    }));
    return {
      site: 'test-site', listen: `127.0.0.1:${this.coordinatorPort}`, stateDb: path.join(this.dir, 'coordinator/state.db'),
      policyFile: this.policyFile, pool, agents: { heartbeatInterval: '300ms', downAfter: '1500ms' },
      tls: this.tls('coordinator'), ...this.options.coordinator,
    };
  }

  private async writeAgent(name: string, failStart: boolean, bootDelay: string, simulated: Record<string, unknown>): Promise<SiteAgent> {
    const stateDir = path.join(this.dir, name);
    const hostsDir = path.join(stateDir, 'dhcp-hosts');
    await mkdir(hostsDir, { recursive: true });
    const port = await freePort();
    const configFile = path.join(stateDir, 'agent.yaml');
    await writeFile(configFile, stringify({
      listen: `127.0.0.1:${port}`, hostName: name, stateDir,
      hypervisor: { driver: 'simulated', simulated: { startDelay: '50ms', bootDelay, failStart, ...simulated } },
      dhcp: { backend: 'dnsmasq', dnsmasq: { hostsDir, leaseFile: path.join(stateDir, 'dnsmasq.leases') } },
      images: { sources: [`${pathToFileURL(this.repoDir).href}/`] },
      coordinator: { address: `127.0.0.1:${this.coordinatorPort}`, advertise: `127.0.0.1:${port}` },
      tls: this.tls(name),
    }));
    return { name, port, stateDir, hostsDir, configFile };
  }

  private spawnDaemon(entry: string, args: string[], label: string): ChildProcess {
    const [node, ...argv] = repoNode(entry, args);
    const proc = spawn(node!, argv, {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VONODE_LOG_LEVEL: 'info' },
    });
    const keep = (d: Buffer): void => {
      for (const line of d.toString().split('\n')) if (line) this.logs.push(`[${label}] ${line.slice(0, 400)}`);
      if (this.logs.length > 2000) this.logs.splice(0, 1000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    return proc;
  }
}
