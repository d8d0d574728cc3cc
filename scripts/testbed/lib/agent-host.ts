import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { AGENT_NODE_FLAGS } from '../../../agent/node-flags.js';
import { AgentClient } from '../../../shared/rpc/agent-client.js';
import { HostNamespace } from './host-namespace.js';
import { builtNode, STOP_GRACE_MS, TestbedProcess, tsNode } from './testbed-process.js';

/** Options of a testbed host running a real vonode-agent. */
export interface AgentHostOptions {
  name: string;
  /** Guest network prefix, e.g. "10.213.1". */
  prefix: string;
  workDir: string;
  /** Directory the host's image repository serves (inside the namespace). */
  imageDir: string;
  /** Rate limit of the image repository, Mbit/s (0 = none). */
  imageRateMbit?: number;
  /** Extra agent config (merged over the defaults). */
  agentConfig?: Record<string, unknown>;
  /** Run the compiled agent (dist/, as installed) instead of the TypeScript sources through tsx. */
  useBuild?: boolean;
}

/**
 * A testbed physical host: a namespace with bridge + dnsmasq, an image
 * repository process and a real `vonode-agent` process inside it. The agent
 * listens on a unix socket, which is reachable from outside the namespace.
 */
export class AgentHost {
  readonly ns: HostNamespace;
  readonly socket: string;
  readonly stateDir: string;
  readonly agentLog: string;
  imageUrl = '';
  client: AgentClient | undefined;
  private agent: TestbedProcess | undefined;
  private repo: TestbedProcess | undefined;

  constructor(readonly options: AgentHostOptions) {
    this.ns = new HostNamespace(options.name, { prefix: options.prefix }, path.join(options.workDir, 'net'));
    this.socket = path.join(options.workDir, 'agent.sock');
    this.stateDir = path.join(options.workDir, 'state');
    this.agentLog = path.join(options.workDir, 'agent.log');
  }

  /** Creates the namespace, starts the image repository and the agent, waits until it serves. */
  async start(): Promise<void> {
    await this.ns.create();
    await mkdir(this.options.workDir, { recursive: true });
    await this.startImageRepo();
    await this.startAgent();
  }

  /** Starts (or restarts) the agent process and connects a client. */
  async startAgent(): Promise<void> {
    const config = {
      listen: `unix:${this.socket}`,
      hostName: this.options.name,
      stateDir: this.stateDir,
      dhcp: { backend: 'dnsmasq', dnsmasq: { hostsDir: this.ns.hostsDir, leaseFile: this.ns.leaseFile, logFile: this.ns.logFile, pidFile: this.ns.pidFile } },
      hypervisor: { driver: 'qemu', qemu: { bridge: this.ns.bridge, accel: 'tcg' } },
      deploy: { shutdownTimeout: '20s', vmrTimeout: '120s' },
      // The agent fetches only from its allowed sources: here the host's own repository.
      images: { sources: [`${this.imageUrl}/`] },
      ...this.options.agentConfig,
    };
    const configFile = path.join(this.options.workDir, 'agent.yaml');
    await writeFile(configFile, stringify(config));
    const args = ['--config', configFile, '--insecure'];
    // The same V8 flag as the installed executable's shebang (agent/main.ts).
    const argv = this.options.useBuild ? builtNode('agent/main.ts', args, AGENT_NODE_FLAGS) : tsNode('agent/main.ts', args, AGENT_NODE_FLAGS);
    const agent = new TestbedProcess(`vonode-agent ${this.options.name}`, this.ns.exec(argv), this.agentLog);
    this.agent = agent;
    agent.start();
    const client = new AgentClient(`unix:${this.socket}`, credentials.createInsecure());
    this.client = client;
    await agent.waitUntil('answering', () => client.hostFacts().then(() => true), 30_000);
  }

  /** PID of the agent process (`ip netns exec` execs it, so it is node's own PID). */
  get agentPid(): number | undefined {
    return this.agent?.pid;
  }

  /** Kills the agent process (SIGKILL models a crash; SIGTERM a clean stop, SIGKILL after 15 s). Domains keep running. */
  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.client?.close();
    await this.agent?.stop(STOP_GRACE_MS, signal);
  }

  /** Stops everything this host started and deletes the namespace. */
  async destroy(): Promise<void> {
    await this.stopAgent('SIGTERM');
    await this.repo?.stop();
    await this.ns.destroy();
  }

  private async startImageRepo(): Promise<void> {
    const portFile = path.join(this.options.workDir, 'image-repo.port');
    const argv = tsNode('scripts/testbed/image-repo-server.ts', ['--dir', this.options.imageDir, '--port-file', portFile, '--rate-mbit', String(this.options.imageRateMbit ?? 0)]);
    this.repo = new TestbedProcess('image repository', this.ns.exec(argv), path.join(this.options.workDir, 'image-repo.log'));
    this.repo.start();
    const port = await this.repo.waitUntil('serving', () => readFile(portFile, 'utf8').then((p) => p.trim() || undefined), 15_000);
    this.imageUrl = `http://127.0.0.1:${port}`;
  }
}
