import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ProcessRunner, runChecked, type CommandResult, type CommandRunner } from '../../../shared/process/command-runner.js';
import { validateHostname, validateIpv4 } from '../../../shared/validation.js';
import { REPO } from './testbed-process.js';

const SCRIPT = path.join(REPO, 'scripts/testbed/sge.sh');

/**
 * The SGE side of the testbed through scripts/testbed/sge.sh: the cluster
 * LAN (a bridge inside the master's namespace), the qmaster, and a "machine"
 * (network + UTS namespace) per host name, all seeing one hosts file as
 * /etc/hosts — the testbed's DNS.
 */
export class SgeTestbed {
  readonly hostsFile: string;
  readonly sgeRoot: string;
  readonly cell = 'default';
  private tag = '';

  constructor(
    readonly dir: string,
    /** First three octets of the cluster LAN, e.g. "10.130.0" (the master gets .1). */
    readonly lanPrefix: string,
    readonly master = 'sge-master',
    private readonly runner: CommandRunner = new ProcessRunner(),
  ) {
    this.hostsFile = path.join(dir, 'hosts');
    this.sgeRoot = path.join(dir, 'root');
  }

  /** The master's LAN address. */
  get masterIp(): string {
    return `${this.lanPrefix}.1`;
  }

  /** Installs the packages (if missing), makes the cell and starts the qmaster. */
  async start(): Promise<void> {
    await this.script('install');
    await this.script('start', this.dir, this.master);
    this.tag = (await readFile(path.join(this.dir, 'tag'), 'utf8')).trim();
  }

  /** A machine on the cluster LAN (namespace with eth0 on the LAN); returns its address. */
  async addMachine(name: string): Promise<string> {
    const out = (await this.script('add-host', this.dir, name)).stdout;
    const ip = /ip=(\S+)/.exec(out)?.[1];
    if (!ip) throw new Error(`sge.sh add-host ${name} printed no address: ${out}`);
    return ip;
  }

  /** Network namespace of a machine. */
  netns(machine: string): string {
    if (!this.tag) throw new Error('the SGE testbed is not started');
    return `${this.tag}-${machine}`;
  }

  /**
   * argv running `argv` on a machine: its network and UTS namespaces, the
   * hosts file as /etc/hosts and the cell's SGE_ROOT/SGE_CELL. Every step
   * execs the next, so the process started is `argv`'s own.
   */
  on(machine: string, argv: readonly string[]): string[] {
    return [
      'ip', 'netns', 'exec', this.netns(machine),
      'nsenter', `--uts=${path.join(this.dir, 'uts', machine)}`, '--',
      'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"', 'sh', this.hostsFile,
      'env', `SGE_ROOT=${this.sgeRoot}`, `SGE_CELL=${this.cell}`, ...argv,
    ];
  }

  /** Runs a command on a machine; throws with its stderr when it fails. */
  run(machine: string, argv: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    return runChecked(this.runner, this.on(machine, argv), { timeoutMs });
  }

  /** Runs a command on the master as `nobody` (SGE runs no job as root). */
  asNobody(argv: readonly string[]): Promise<CommandResult> {
    return this.run(this.master, ['runuser', '-u', 'nobody', '--', ...argv]);
  }

  /**
   * Adds name → address lines to the hosts file (the file is bind-mounted into
   * running namespaces, so it is appended to, never replaced).
   */
  async addHostsEntries(entries: ReadonlyArray<{ hostname: string; ip: string }>): Promise<void> {
    const lines = entries.map(({ hostname, ip }) => `${validateIpv4('ip', ip)} ${validateHostname('hostname', hostname)}\n`);
    await appendFile(this.hostsFile, lines.join(''));
  }

  /** Stops every daemon the script started and deletes the machines' namespaces. */
  async stop(): Promise<void> {
    await this.script('stop', this.dir);
  }

  private script(...args: string[]): Promise<CommandResult> {
    return runChecked(this.runner, ['bash', SCRIPT, ...args], { timeoutMs: 900_000, env: { ...process.env, SGE_TESTBED_LAN: this.lanPrefix } });
  }
}
