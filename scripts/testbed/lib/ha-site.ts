import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { connectEtcd, type EtcdConnection } from '../../../coordinator/ha/etcd-connection.js';
import { KEYS } from '../../../coordinator/store/etcd/etcd-keys.js';
import type { NodeRecord } from '../../../coordinator/store/records.js';
import { ProcessRunner, runChecked } from '../../../shared/process/command-runner.js';
import { AgentClient } from '../../../shared/rpc/agent-client.js';
import { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { channelCredentials } from '../../../shared/rpc/credentials.js';
import { FollowingCoordinatorClient } from '../../../shared/rpc/following-coordinator-client.js';
import { EtcdCluster } from './etcd-cluster.js';
import { freePort } from './free-port.js';
import { REPO, repoNode } from './testbed-process.js';

const LOOPBACK = 'DNS:localhost,IP:127.0.0.1';
/** Exit code of a coordinator that lost the leadership (coordinator/coordinator.ts EXIT_LEADERSHIP_LOST). */
const EXIT_LEADERSHIP_LOST = 75;
/** Pause before a coordinator that exited is started again (RestartSec= of packaging/systemd/vonode-coordinator.service). */
const RESTART_DELAY_MS = 500;

/** Options of an HA test site. */
export interface HaSiteOptions {
  coordinators: number;
  agents: string[];
  poolSize: number;
  /** The simulated guest's boot time (a deployment's VMR). */
  bootDelay?: string;
  /** Leadership lease TTL ('2s'). */
  leaseTtl?: string;
  /** Agents' heartbeat interval and down-after (defaults 300ms / 1500ms). */
  heartbeatInterval?: string;
  downAfter?: string;
  /** Extra coordinator config. */
  coordinator?: Record<string, unknown>;
  /** Each coordinator serves the web console on a port of its own (HaCoordinator.consolePort). */
  console?: boolean;
}

/** One coordinator process of the site. */
export interface HaCoordinator {
  index: number;
  address: string;
  configFile: string;
  proc: ChildProcess | undefined;
  /** Exit codes of its processes so far, in order ('SIGKILL' etc. for a signal). */
  exits: Array<number | string>;
  /** Restarted automatically after it exits (a service manager's Restart=). */
  supervised: boolean;
  /** Its web console's port (0: off). */
  consolePort: number;
}

/** An agent of the site: a real vonode-agent process with the simulated hypervisor driver. */
export interface HaAgent {
  name: string;
  port: number;
  stateDir: string;
  hostsDir: string;
  proc: ChildProcess | undefined;
}

/** What the site's state and its agents' domains say after a scenario (all should be 0 but `nodes`). */
export interface SiteAudit {
  /** Leases in etcd. */
  nodes: NodeRecord[];
  /** Leases that neither an open operation nor a domain on their host explains. */
  leakedTriples: string[];
  /** An IP or MAC held by two leases, a lease key pointing elsewhere, or a node's domain on two hosts. */
  doubledTriples: string[];
  /** Domains on agents that no lease on that host explains. */
  orphanDomains: string[];
  /** DHCP reservations on agents that no domain explains. */
  orphanReservations: string[];
  /** Open operations left. */
  openOperations: number;
}

/**
 * An HA site on loopback for tests and benchmarks: a REAL 3-member etcd
 * cluster (Debian etcd-server), N REAL vonode-coordinator processes on
 * `store.etcd` (each restarted after it exits, as its systemd unit would),
 * and REAL vonode-agent processes with the SIMULATED hypervisor driver
 * (no VM boots), every agent given every coordinator's address. Mutual TLS
 * with a site PKI. Every process is started and killed by PID here.
 */
export class HaSite {
  dir = '';
  pki = '';
  etcd!: EtcdCluster;
  readonly coordinators: HaCoordinator[] = [];
  readonly agents: HaAgent[] = [];
  private store: EtcdConnection | undefined;
  private readonly logs: string[] = [];
  private stopping = false;
  private image = { url: '', sha256: '' };

  constructor(readonly options: HaSiteOptions) {}

  /** Starts etcd, the coordinators (waiting for a leader), then the agents. */
  async start(): Promise<void> {
    this.dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-ha-'));
    this.pki = path.join(this.dir, 'pki');
    await runChecked(new ProcessRunner(), [
      'bash', path.join(REPO, 'scripts/pki/make-site-pki.sh'), this.pki, '--role', 'coordinator', `coordinator:${LOOPBACK}`, '--role', 'admin', 'cli',
      '--role', 'agent', ...this.options.agents.map((a) => `${a}:${LOOPBACK}`),
    ]);
    await this.writeImage();
    this.etcd = await EtcdCluster.start({ members: 3, dir: path.join(this.dir, 'etcd') });
    this.store = connectEtcd(this.etcdConfig());
    for (let i = 0; i < this.options.coordinators; i++) this.coordinators.push(await this.writeCoordinator(i));
    for (const c of this.coordinators) this.startCoordinator(c);
    await this.waitForLeader(30_000);
    for (const name of this.options.agents) {
      const agent = await this.writeAgent(name);
      this.agents.push(agent);
      this.startAgent(agent);
    }
  }

  /** The etcd section every coordinator has. */
  etcdConfig(): { endpoints: string[]; prefix: string; leaseTtl: number; maxTxnOps: number } {
    return { endpoints: this.etcd.endpoints(), prefix: '/vonode/', leaseTtl: parseSeconds(this.options.leaseTtl ?? '2s') * 1000, maxTxnOps: 128 };
  }

  /** The site's etcd keys (namespaced to the coordinators' prefix). */
  get etcdStore(): EtcdConnection {
    return this.store!;
  }

  /** A client following the leader over every coordinator (with the admin certificate). */
  client(): FollowingCoordinatorClient {
    return new FollowingCoordinatorClient(this.coordinators.map((c) => c.address), channelCredentials(this.tls('cli'), false, 'test'));
  }

  /** A client of one coordinator only. */
  clientOf(c: HaCoordinator): CoordinatorClient {
    return new CoordinatorClient(c.address, channelCredentials(this.tls('cli'), false, 'test'));
  }

  /** The coordinator whose election key leads now (from etcd), or undefined. */
  async leader(): Promise<HaCoordinator | undefined> {
    const res = await this.etcdStore.ns.getAll().prefix(KEYS.election).sort('Create', 'Ascend').limit(1).strings();
    const address = Object.values(res)[0];
    return this.coordinators.find((c) => c.address === address);
  }

  /** The leader's term (create revision of its election key), or 0. */
  async leaderTerm(): Promise<number> {
    const res = await this.etcdStore.ns.getAll().prefix(KEYS.election).sort('Create', 'Ascend').limit(1).exec();
    return Number(res.kvs[0]?.create_revision ?? 0);
  }

  /** Waits until a coordinator leads and answers as the leader; returns it. */
  async waitForLeader(timeoutMs: number, not?: HaCoordinator): Promise<HaCoordinator> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const leader = await this.leader().catch(() => undefined);
      if (leader && leader !== not) {
        const client = this.clientOf(leader);
        const role = await client.status(2000).then((s) => s.cluster?.role, () => undefined).finally(() => client.close());
        if (role === 'leader') return leader;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no coordinator leads after ${timeoutMs} ms; recent logs:\n${this.recentLogs(40)}`);
  }

  /** Starts (or restarts) a coordinator process; supervised, it is started again whenever it exits. */
  startCoordinator(c: HaCoordinator): void {
    c.supervised = true;
    const proc = (c.proc = this.spawnDaemon('coordinator/main.ts', ['--config', c.configFile], `coordinator-${c.index}`));
    proc.once('exit', (code, signal) => {
      c.exits.push(code ?? signal ?? 'unknown');
      if (c.proc === proc) c.proc = undefined;
      if (!this.stopping && c.supervised) setTimeout(() => !this.stopping && c.supervised && !c.proc && this.startCoordinator(c), RESTART_DELAY_MS);
    });
  }

  /** SIGKILLs a coordinator; `restart` (default true) lets its supervisor start it again. Resolves once it exited. */
  async killCoordinator(c: HaCoordinator, restart = true): Promise<void> {
    c.supervised = restart;
    await killAndWait(c.proc, 'SIGKILL');
  }

  /** SIGSTOPs or SIGCONTs a coordinator process. */
  signal(c: HaCoordinator, sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (c.proc?.pid) process.kill(c.proc.pid, sig);
  }

  /** Whether a coordinator exited because it lost the leadership. */
  exitedForLeadership(c: HaCoordinator): boolean {
    return c.exits.includes(EXIT_LEADERSHIP_LOST);
  }

  /** A client of one agent's AgentService (with the coordinator's certificate). */
  agentClient(a: HaAgent): AgentClient {
    return new AgentClient(`127.0.0.1:${a.port}`, channelCredentials(this.tls('coordinator'), false, 'test'));
  }

  /** Reads the leases and open operations from etcd and every agent's domains and DHCP files, and checks them against each other. */
  async audit(): Promise<SiteAudit> {
    const ns = this.etcdStore.ns;
    const nodes = Object.values(await ns.getAll().prefix(KEYS.nodes).strings()).map((t) => JSON.parse(t) as NodeRecord);
    const open = Object.values(await ns.getAll().prefix(KEYS.openOps).strings()).map((t) => JSON.parse(t) as { node: string; kind: string });
    const ipKeys = await ns.getAll().prefix('leases/ip/').strings();
    const macKeys = await ns.getAll().prefix('leases/mac/').strings();
    const domainsByHost = new Map<string, string[]>();
    const reservations: string[] = [];
    for (const a of this.agents) {
      const client = this.agentClient(a);
      try {
        const res = await client.listDomains();
        domainsByHost.set(a.name, res.domains.map((d) => d.spec?.hostname ?? d.name));
      } finally {
        client.close();
      }
      for (const f of await readdir(a.hostsDir).catch(() => [] as string[])) if (!f.startsWith('.')) reservations.push(`${a.name}:${f}`);
    }
    const doubled: string[] = [];
    const seen = new Map<string, string>();
    for (const n of nodes) {
      for (const key of [`ip ${n.ip}`, `mac ${n.mac}`]) {
        if (seen.has(key)) doubled.push(`${key} leased to ${seen.get(key)} and ${n.hostname}`);
        seen.set(key, n.hostname);
      }
      if (ipKeys[`leases/ip/${n.ip}`] !== n.hostname && ipKeys[`/vonode/leases/ip/${n.ip}`] !== n.hostname) doubled.push(`lease key of ip ${n.ip} does not name ${n.hostname}`);
      if (macKeys[`leases/mac/${n.mac}`] !== n.hostname && macKeys[`/vonode/leases/mac/${n.mac}`] !== n.hostname) doubled.push(`lease key of mac ${n.mac} does not name ${n.hostname}`);
    }
    if (Object.keys(ipKeys).length !== nodes.length || Object.keys(macKeys).length !== nodes.length) {
      doubled.push(`${Object.keys(ipKeys).length} IP and ${Object.keys(macKeys).length} MAC lease keys for ${nodes.length} leases`);
    }
    const hostsOf = new Map<string, string[]>();
    for (const [host, names] of domainsByHost) for (const name of names) hostsOf.set(name, [...(hostsOf.get(name) ?? []), host]);
    for (const [name, hosts] of hostsOf) if (hosts.length > 1) doubled.push(`${name} runs on ${hosts.join(' and ')}`);
    const opened = new Set(open.map((o) => o.node));
    const leaked = nodes.filter((n) => !opened.has(n.hostname) && !(domainsByHost.get(n.host) ?? []).includes(n.hostname)).map((n) => `${n.hostname} (${n.state} on '${n.host}')`);
    const byName = new Map(nodes.map((n) => [n.hostname, n]));
    const orphans: string[] = [];
    for (const [host, names] of domainsByHost) for (const name of names) if (byName.get(name)?.host !== host) orphans.push(`${name} on ${host}`);
    const domainCount = [...domainsByHost.values()].reduce((s, d) => s + d.length, 0);
    const orphanReservations = reservations.length > domainCount ? reservations.slice(domainCount) : [];
    return { nodes, leakedTriples: leaked, doubledTriples: doubled, orphanDomains: orphans, orphanReservations, openOperations: open.length };
  }

  /** Kills everything (by PID) and removes the site's files unless `keep`. */
  async stop(keep = false): Promise<void> {
    this.stopping = true;
    for (const c of this.coordinators) {
      if (c.proc?.pid) process.kill(c.proc.pid, 'SIGCONT');
      await killAndWait(c.proc, 'SIGKILL');
    }
    for (const a of this.agents) await killAndWait(a.proc, 'SIGKILL');
    this.store?.close();
    await this.etcd?.close();
    if (!keep && this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  /** Recent daemon output, for assertion messages. */
  recentLogs(lines = 40, label?: string): string {
    return this.logs.filter((l) => !label || l.startsWith(`[${label}]`)).slice(-lines).join('\n');
  }

  /** TLS files of one of the site's certificates. */
  tls(name: string): { ca: string; cert: string; key: string; crl: string } {
    return { ca: path.join(this.pki, 'ca.pem'), cert: path.join(this.pki, `${name}.pem`), key: path.join(this.pki, `${name}-key.pem`), crl: path.join(this.pki, 'crl.pem') };
  }

  private async writeImage(): Promise<void> {
    const repo = path.join(this.dir, 'repo');
    await mkdir(repo, { recursive: true });
    const bytes = randomBytes(64 * 1024);
    await writeFile(path.join(repo, 'appliance.img'), bytes);
    this.image = { url: pathToFileURL(path.join(repo, 'appliance.img')).href, sha256: createHash('sha256').update(bytes).digest('hex') };
    const appliance = { disk: this.image };
    await writeFile(path.join(this.dir, 'policy.yaml'), stringify({
      cooldowns: { scaleUp: '1s', scaleDown: '1s' },
      vos: {
        bio: { weight: 2, min: 0, max: 500, queue: 'bio.q', vm: { vcpus: 1, memory: '64MiB' }, appliance },
        fusion: { weight: 5, min: 0, max: 500, queue: 'fusion.q', vm: { vcpus: 1, memory: '64MiB' }, appliance },
      },
    }));
  }

  private async writeCoordinator(index: number): Promise<HaCoordinator> {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const configFile = path.join(this.dir, `coordinator-${index}.yaml`);
    const pool = Array.from({ length: this.options.poolSize }, (_, i) => ({
      hostname: `vwn-${String(i + 1).padStart(3, '0')}`, ip: `10.77.${(i >> 8) & 255}.${(i & 255)}`,
      mac: `52:54:00:77:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    }));
    // Each coordinator its own policy file, as on separate hosts: the leader's policy reaches the others through etcd.
    const consolePort = this.options.console ? await freePort() : 0;
    const policyFile = path.join(this.dir, `policy-${index}.yaml`);
    await copyFile(path.join(this.dir, 'policy.yaml'), policyFile);
    await writeFile(configFile, stringify({
      site: 'ha-site', listen: address, advertise: address, policyFile, pool,
      store: { etcd: { endpoints: this.etcd.endpoints(), prefix: '/vonode/', leaseTtl: this.options.leaseTtl ?? '2s' } },
      agents: { heartbeatInterval: this.options.heartbeatInterval ?? '300ms', downAfter: this.options.downAfter ?? '1500ms' },
      tls: this.tls('coordinator'), ...(consolePort ? { console: { listen: `127.0.0.1:${consolePort}` } } : {}), ...this.options.coordinator,
    }));
    return { index, address, configFile, proc: undefined, exits: [], supervised: true, consolePort };
  }

  private async writeAgent(name: string): Promise<HaAgent> {
    const stateDir = path.join(this.dir, name);
    const hostsDir = path.join(stateDir, 'dhcp-hosts');
    await mkdir(hostsDir, { recursive: true });
    const port = await freePort();
    await writeFile(path.join(stateDir, 'agent.yaml'), stringify({
      listen: `127.0.0.1:${port}`, hostName: name, stateDir,
      hypervisor: { driver: 'simulated', simulated: { startDelay: '50ms', bootDelay: this.options.bootDelay ?? '500ms' } },
      dhcp: { backend: 'dnsmasq', dnsmasq: { hostsDir, leaseFile: path.join(stateDir, 'dnsmasq.leases') } },
      images: { sources: [`${pathToFileURL(path.join(this.dir, 'repo')).href}/`] },
      coordinator: { addresses: this.coordinators.map((c) => c.address), advertise: `127.0.0.1:${port}` },
      tls: this.tls(name),
    }));
    return { name, port, stateDir, hostsDir, proc: undefined };
  }

  private startAgent(a: HaAgent): void {
    a.proc = this.spawnDaemon('agent/main.ts', ['--config', path.join(a.stateDir, 'agent.yaml')], a.name);
  }

  private spawnDaemon(entry: string, args: string[], label: string): ChildProcess {
    const [node, ...argv] = repoNode(entry, args);
    const proc = spawn(node!, argv, {
      cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VONODE_LOG_LEVEL: 'info' },
    });
    const keep = (d: Buffer): void => {
      for (const line of d.toString().split('\n')) if (line) this.logs.push(`[${label}] ${line.slice(0, 600)}`);
      if (this.logs.length > 4000) this.logs.splice(0, 2000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    return proc;
  }
}

function killAndWait(proc: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  process.kill(proc.pid!, signal);
  return exited;
}

function parseSeconds(text: string): number {
  const m = /^(\d+)s$/.exec(text);
  if (!m) throw new Error(`leaseTtl must be whole seconds like '2s', got ${text}`);
  return Number(m[1]);
}
