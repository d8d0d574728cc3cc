import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { AGENT_NODE_FLAGS } from '../../../agent/node-flags.js';
import { ProcessRunner, runChecked, type CommandRunner } from '../../../shared/process/command-runner.js';
import { dnsmasqArgv, stopDnsmasq } from './dnsmasq.js';
import type { SgeTestbed } from './sge-testbed.js';
import { builtNode, TestbedProcess } from './testbed-process.js';

/** What a physical host needs to know of its site. */
export interface PhysicalHostSite {
  sge: SgeTestbed;
  /** Directory of the site PKI (scripts/pki/make-site-pki.sh): ca.pem, NAME.pem, NAME-key.pem. */
  pki: string;
  /** The coordinator's gRPC address. */
  coordinator: string;
  /** URL prefixes of the site's image repository: the agent's images.sources. */
  imageSources: readonly string[];
  /** Snapshot templates on the agents (agent config `templates`): built after 2 s idle when on. */
  templates?: boolean;
}

/** What is left of guests on a host: each list should be empty once every node is gone. */
export interface HostLeftovers {
  qemuProcesses: string[];
  taps: string[];
  dhcpFiles: string[];
  overlays: string[];
  domainRecords: string[];
}

export const AGENT_PORT = 7070;
export const PEER_PORT = 7071;

/**
 * A testbed physical host: a machine on the cluster LAN (sge.sh add-host)
 * whose LAN port becomes a port of a guest bridge — so guests sit on the
 * cluster LAN — with its own dnsmasq answering only its reservations, and a
 * real vonode-agent (QEMU driver, TCG) that registers with the coordinator
 * over mutual TLS.
 */
export class PhysicalHost {
  readonly bridge = 'br0';
  readonly hostsDir: string;
  readonly stateDir: string;
  private readonly leaseFile: string;
  private readonly dnsmasqLog: string;
  private readonly dnsmasqPid: string;
  agent: TestbedProcess | undefined;

  constructor(
    readonly name: string,
    readonly ip: string,
    readonly dir: string,
    private readonly site: PhysicalHostSite,
    private readonly runner: CommandRunner = new ProcessRunner(),
  ) {
    this.hostsDir = path.join(dir, 'dhcp-hosts.d');
    this.stateDir = path.join(dir, 'state');
    this.leaseFile = path.join(dir, 'dnsmasq.leases');
    this.dnsmasqLog = path.join(dir, 'dnsmasq.log');
    this.dnsmasqPid = path.join(dir, 'dnsmasq.pid');
  }

  get netns(): string {
    return this.site.sge.netns(this.name);
  }

  /** The agent's gRPC address (on the LAN). */
  get agentAddress(): string {
    return `${this.ip}:${AGENT_PORT}`;
  }

  /** Bridge, dnsmasq, agent; resolves once the agent answers on the LAN. */
  async start(): Promise<void> {
    await mkdir(this.hostsDir, { recursive: true });
    await writeFile(this.leaseFile, '');
    await this.bridgeUplink();
    await runChecked(this.runner, this.inNetns(dnsmasqArgv({
      bridge: this.bridge, prefix: this.site.sge.lanPrefix, hostsDir: this.hostsDir,
      leaseFile: this.leaseFile, logFile: this.dnsmasqLog, pidFile: this.dnsmasqPid, onlyKnownClients: true,
    })));
    await this.startAgent();
  }

  /** Stops the agent (SIGTERM: domains it runs are left to the caller's drains) and dnsmasq. */
  async stop(): Promise<void> {
    await this.agent?.stop();
    await stopDnsmasq(this.dnsmasqPid);
  }

  /** Guests' traces on this host: QEMU processes, tap devices, DHCP reservations, overlays, domain records. */
  /** The agent's snapshot templates (template.json of each finished one). */
  async templates(): Promise<Array<{ key: string; stateBytes: number; stateSha256: string; memoryBytes: number; buildMs: number; shape: { vo: string } }>> {
    const dir = path.join(this.stateDir, 'templates');
    const keys = await readdir(dir).catch(() => [] as string[]);
    const out = [];
    for (const k of keys) {
      const text = await readFile(path.join(dir, k, 'template.json'), 'utf8').catch(() => undefined);
      if (text) out.push(JSON.parse(text) as { key: string; stateBytes: number; stateSha256: string; memoryBytes: number; buildMs: number; shape: { vo: string } });
    }
    return out;
  }

  /** The state file of a template (tests corrupt it). */
  templateStatePath(key: string): string {
    return path.join(this.stateDir, 'templates', key, 'state.bin');
  }

  /** dnsmasq's current leases on this host: MAC, IP and hostname of each. */
  async leases(): Promise<Array<{ mac: string; ip: string; hostname: string }>> {
    const text = await readFile(this.leaseFile, 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map((l) => l.split(' ')).map((f) => ({ mac: f[1] ?? '', ip: f[2] ?? '', hostname: f[3] ?? '' }));
  }

  async leftovers(): Promise<HostLeftovers> {
    const pids = (await runChecked(this.runner, ['ip', 'netns', 'pids', this.netns])).stdout.split('\n').filter(Boolean);
    const comms = await Promise.all(pids.map((p) => readFile(`/proc/${p}/comm`, 'utf8').then((c) => `${c.trim()}[${p}]`, () => '')));
    const links = (await runChecked(this.runner, ['ip', '-n', this.netns, '-o', 'link', 'show', 'type', 'tun'])).stdout;
    const list = (dir: string): Promise<string[]> => readdir(dir).then((f) => f.filter((x) => !x.startsWith('.')), () => []);
    return {
      qemuProcesses: comms.filter((c) => c.startsWith('qemu-system')),
      taps: [...links.matchAll(/^\d+:\s+([^:@\s]+)/gm)].map((m) => m[1]!),
      dhcpFiles: await list(this.hostsDir),
      overlays: await list(path.join(this.stateDir, 'instances')),
      domainRecords: await list(path.join(this.stateDir, 'records')),
    };
  }

  private inNetns(argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.netns, ...argv];
  }

  /** eth0 (the LAN port sge.sh made) becomes a port of br0, which takes over the host's address. */
  private async bridgeUplink(): Promise<void> {
    const ip = ['ip', '-n', this.netns];
    await runChecked(this.runner, [...ip, 'link', 'add', this.bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await runChecked(this.runner, [...ip, 'addr', 'del', `${this.ip}/24`, 'dev', 'eth0']);
    await runChecked(this.runner, [...ip, 'link', 'set', 'eth0', 'master', this.bridge]);
    await runChecked(this.runner, [...ip, 'addr', 'add', `${this.ip}/24`, 'dev', this.bridge]);
    await runChecked(this.runner, [...ip, 'link', 'set', this.bridge, 'up']);
  }

  private async startAgent(): Promise<void> {
    const tls = (n: string): Record<string, string> => ({ ca: path.join(this.site.pki, 'ca.pem'), cert: path.join(this.site.pki, `${n}.pem`), key: path.join(this.site.pki, `${n}-key.pem`), crl: path.join(this.site.pki, 'crl.pem') });
    const configFile = path.join(this.dir, 'agent.yaml');
    await writeFile(configFile, stringify({
      listen: this.agentAddress,
      hostName: this.name,
      stateDir: this.stateDir,
      dhcp: { backend: 'dnsmasq', dnsmasq: { hostsDir: this.hostsDir, leaseFile: this.leaseFile, logFile: this.dnsmasqLog, pidFile: this.dnsmasqPid } },
      hypervisor: { driver: 'qemu', qemu: { bridge: this.bridge, accel: 'tcg' } },
      deploy: { shutdownTimeout: '20s', vmrTimeout: '180s', memoryReserve: '256MiB' },
      templates: { enabled: this.site.templates ?? false, idleQuiet: '2s' },
      // The peer endpoint: hosts take the appliances' pieces from each other before the repository.
      images: { sources: this.site.imageSources, peer: { listen: `${this.ip}:${PEER_PORT}`, advertise: `https://${this.ip}:${PEER_PORT}` } },
      tls: tls(this.name),
      coordinator: { address: this.site.coordinator, advertise: this.agentAddress },
    }));
    this.agent = new TestbedProcess(`vonode-agent ${this.name}`, this.inNetns(builtNode('agent/main.ts', ['--config', configFile], AGENT_NODE_FLAGS)), path.join(this.dir, 'agent.log'));
    this.agent.start();
  }
}
