import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runChecked, ProcessRunner, type CommandRunner } from '../../../shared/process/command-runner.js';
import { dnsmasqArgv, stopDnsmasq } from './dnsmasq.js';

/** Addresses of a testbed host's guest network (private, exists only inside the namespace). */
export interface HostNetwork {
  /** e.g. "10.213.1" — the bridge gets .1, guests .10 and up. */
  prefix: string;
}

/**
 * A testbed "physical host": a network namespace with a bridge for its
 * guests and a dnsmasq in static-lease mode using --dhcp-hostsdir, the way a
 * real vonode host is set up. Used by integration tests, benchmarks and the
 * demo. Everything it starts it stops, by PID.
 */
export class HostNamespace {
  readonly bridge = 'br0';
  readonly hostsDir: string;
  readonly leaseFile: string;
  readonly logFile: string;
  readonly pidFile: string;

  constructor(
    readonly name: string,
    readonly network: HostNetwork,
    readonly workDir: string,
    private readonly runner: CommandRunner = new ProcessRunner(),
  ) {
    this.hostsDir = path.join(workDir, 'dhcp-hosts.d');
    this.leaseFile = path.join(workDir, 'dnsmasq.leases');
    this.logFile = path.join(workDir, 'dnsmasq.log');
    this.pidFile = path.join(workDir, 'dnsmasq.pid');
  }

  /** The bridge's address (the guests' gateway). */
  get gateway(): string {
    return `${this.network.prefix}.1`;
  }

  /** Guest address number n (n ≥ 10 keeps clear of the gateway). */
  guestIp(n: number): string {
    return `${this.network.prefix}.${n}`;
  }

  /** Creates the namespace, bridge and dnsmasq. Throws with the failing command's stderr. */
  async create(): Promise<void> {
    await this.destroy();
    await mkdir(this.hostsDir, { recursive: true });
    await writeFile(this.leaseFile, '');
    await writeFile(this.logFile, '');
    const ns = ['ip', '-n', this.name];
    await runChecked(this.runner, ['ip', 'netns', 'add', this.name]);
    await runChecked(this.runner, [...ns, 'link', 'set', 'lo', 'up']);
    await runChecked(this.runner, [...ns, 'link', 'add', this.bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await runChecked(this.runner, [...ns, 'addr', 'add', `${this.gateway}/24`, 'dev', this.bridge]);
    await runChecked(this.runner, [...ns, 'link', 'set', this.bridge, 'up']);
    await runChecked(this.runner, this.exec(dnsmasqArgv({
      bridge: this.bridge, prefix: this.network.prefix, hostsDir: this.hostsDir,
      leaseFile: this.leaseFile, logFile: this.logFile, pidFile: this.pidFile,
    })));
  }

  /** argv prefix that runs a command inside this host. */
  exec(argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.name, ...argv];
  }

  /** Stops dnsmasq (by its PID file), deletes the namespace and the work dir. Safe to call twice. */
  async destroy(): Promise<void> {
    await stopDnsmasq(this.pidFile);
    await this.runner.run(['ip', 'netns', 'del', this.name]);
    await rm(this.workDir, { recursive: true, force: true });
  }
}
