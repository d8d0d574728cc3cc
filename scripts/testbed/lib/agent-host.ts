import { spawn, type ChildProcess } from 'node:child_process';
import { AGENT_NODE_FLAGS } from '../../../agent/node-flags.js';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { AgentClient } from '../../../shared/rpc/agent-client.js';
import { systemClock } from '../../../shared/clock.js';
import { HostNamespace } from './host-namespace.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

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
  private agent: ChildProcess | undefined;
  private repo: ChildProcess | undefined;

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
      dhcp: { backend: 'dnsmasq', dnsmasq: { hostsDir: this.ns.hostsDir, leaseFile: this.ns.leaseFile, logFile: this.ns.logFile } },
      hypervisor: { driver: 'qemu', qemu: { bridge: this.ns.bridge, accel: 'tcg' } },
      deploy: { shutdownTimeout: '20s', vmrTimeout: '120s' },
      ...this.options.agentConfig,
    };
    const configFile = path.join(this.options.workDir, 'agent.yaml');
    await writeFile(configFile, stringify(config));
    const log = openSync(this.agentLog, 'a');
    const entry = this.options.useBuild ? [path.join(REPO, 'dist/agent/main.js')] : ['--import', 'tsx', path.join(REPO, 'agent/main.ts')];
    // The same V8 flag as the installed executable's shebang (agent/main.ts).
    const [cmd, ...args] = this.ns.exec([process.execPath, ...AGENT_NODE_FLAGS, ...entry, '--config', configFile, '--insecure']);
    this.agent = spawn(cmd!, args, {
      cwd: REPO, stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.client = new AgentClient(`unix:${this.socket}`, credentials.createInsecure());
    const deadline = systemClock.monotonicMs() + 30_000;
    for (;;) {
      try {
        await this.client.hostFacts();
        return;
      } catch (e) {
        if (this.agent.exitCode !== null || systemClock.monotonicMs() > deadline) {
          throw new Error(`agent did not come up (exit ${this.agent.exitCode}); log: ${(await readFile(this.agentLog, 'utf8')).slice(-2000)}`, { cause: e });
        }
        await systemClock.sleep(100);
      }
    }
  }

  /** PID of the agent process (`ip netns exec` execs it, so it is node's own PID). */
  get agentPid(): number | undefined {
    return this.agent?.pid;
  }

  /** Kills the agent process (SIGKILL models a crash; SIGTERM a clean stop). Domains keep running. */
  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.client?.close();
    const agent = this.agent;
    if (!agent || agent.exitCode !== null) return;
    const exited = new Promise((r) => agent.once('exit', r));
    agent.kill(signal);
    await exited;
  }

  /** Stops everything this host started and deletes the namespace. */
  async destroy(): Promise<void> {
    await this.stopAgent('SIGTERM');
    if (this.repo && this.repo.exitCode === null) {
      const exited = new Promise((r) => this.repo?.once('exit', r));
      this.repo.kill('SIGTERM');
      await exited;
    }
    await this.ns.destroy();
  }

  private async startImageRepo(): Promise<void> {
    const portFile = path.join(this.options.workDir, 'image-repo.port');
    const logFile = path.join(this.options.workDir, 'image-repo.log');
    const log = openSync(logFile, 'a');
    const [cmd, ...args] = this.ns.exec([
      process.execPath, '--import', 'tsx', path.join(REPO, 'scripts/testbed/image-repo-server.ts'),
      '--dir', this.options.imageDir, '--port-file', portFile, '--rate-mbit', String(this.options.imageRateMbit ?? 0),
    ]);
    this.repo = spawn(cmd!, args, { cwd: REPO, stdio: ['ignore', log, log] });
    closeSync(log);
    const deadline = systemClock.monotonicMs() + 15_000;
    for (;;) {
      const port = await readFile(portFile, 'utf8').catch(() => '');
      if (port) {
        this.imageUrl = `http://127.0.0.1:${port}`;
        return;
      }
      if (this.repo.exitCode !== null || systemClock.monotonicMs() > deadline) {
        throw new Error(`image repository did not start: ${(await readFile(logFile, 'utf8')).slice(-1000)}`);
      }
      await systemClock.sleep(50);
    }
  }
}
