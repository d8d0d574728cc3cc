import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { ProcessRunner, runChecked, type CommandRunner } from '../../../shared/process/command-runner.js';
import { ensureVoAppliance, type VoApplianceManifest } from './appliance.js';
import { testbedCoordinatorConfig, testbedPolicy, VO_SOFTWARE, VOS, type Vo } from './site-config.js';
import { GwdStandIn } from './gwd-stand-in.js';
import { readHookEvents, writeHookRecorder } from './hook-recorder.js';
import type { HookEvent } from '../../../coordinator/hooks/hook-event.js';
import { PhysicalHost, type HostLeftovers } from './physical-host.js';
import { SgeTestbed } from './sge-testbed.js';
import { buildDaemons, builtNode, REPO, TestbedProcess, tsNode } from './testbed-process.js';
import { until, WaitTimeoutError } from './wait.js';

/** The testbed's shape; every field has a default that fits a 2-core machine. */
export interface TestbedOptions {
  /** Absolute directory holding everything of this testbed (deleted by destroy()). */
  dir: string;
  /** First three octets of the cluster LAN (exists only inside the testbed's namespaces). */
  lanPrefix?: string;
  /** Physical-host namespaces, each with an agent, a dnsmasq and a bridge. */
  hosts?: number;
  /** Pool of (hostname, IP, MAC) triples, i.e. most VMs at once. */
  poolSize?: number;
  /** Share weights of the two VOs. */
  weights?: { bio: number; fusion: number };
  /** Incompressible payload in each appliance disk, so image propagation (PT) has something to move. */
  payloadMb?: number;
  /** Memory of each VM. */
  vmMemory?: string;
  /** How long a node must be idle before scale-down drains it (a policy duration; benchmarks that deploy by hand raise it). */
  idleBeforeDrain?: string;
  /**
   * Snapshot templates on the agents (off by default: the acceptance run and
   * the demo measure cold boots; the restore test and bench:grid-visible
   * --restore turn them on; 'first-host' turns them on for the first host
   * only, so one run can measure both paths on identical hosts).
   */
  templates?: boolean | 'first-host';
  /** Where progress lines go. */
  say?: (line: string) => void;
}

const COORDINATOR_PORT = 7080;
const IMAGE_PORT = 8080;
const JOB_OUTPUT_PORT = 8081;
const BDII_PORT = 2170;
const GLUE2_BASE = 'GLUE2GroupID=resource,o=glue';
/** File that marks a directory as a testbed's (so tear-downs never delete anything else). */
export const TESTBED_MARKER = '.vonode-testbed';

/**
 * The whole site on one machine (DESIGN §7): a frontend namespace with the
 * SGE qmaster, a BDII, the image repository and the coordinator; physical-host
 * namespaces with a vonode-agent, dnsmasq and a guest bridge each; one
 * cluster LAN; VO appliances booted as real QEMU (TCG) guests. Only the
 * GridWay daemon is a stand-in (see GwdStandIn). Everything it starts it
 * stops by PID; the namespaces go with sge.sh stop.
 */
export class SiteTestbed {
  readonly sge: SgeTestbed;
  readonly hosts: PhysicalHost[] = [];
  readonly pool: Array<{ hostname: string; ip: string; mac: string }>;
  readonly pki: string;
  readonly jobOutputDir: string;
  /** The SSM sender's outgoing directory the coordinator's APEL writer fills. */
  readonly apelOutgoingDir: string;
  /** Where the testbed's hook (every hook event) keeps the JSON it was given. */
  readonly hookEventsDir: string;
  appliances: Partial<Record<Vo, VoApplianceManifest>> = {};
  gwd: GwdStandIn | undefined;
  private readonly daemons: TestbedProcess[] = [];
  private coordinator: TestbedProcess | undefined;
  private bdiiStarted = false;
  private readonly o: Required<Omit<TestbedOptions, 'say'>>;
  private readonly say: (line: string) => void;

  constructor(options: TestbedOptions, private readonly runner: CommandRunner = new ProcessRunner()) {
    this.o = { lanPrefix: '10.130.0', hosts: 2, poolSize: 6, weights: { bio: 1, fusion: 2 }, payloadMb: 32, vmMemory: '256MiB', idleBeforeDrain: '3s', templates: false, ...options };
    this.say = options.say ?? (() => undefined);
    if (!path.isAbsolute(this.o.dir)) throw new Error(`the testbed directory must be an absolute path, not ${this.o.dir}`);
    this.sge = new SgeTestbed(path.join(this.o.dir, 'sge'), this.o.lanPrefix, 'sge-master', runner);
    this.pki = path.join(this.o.dir, 'pki');
    this.jobOutputDir = path.join(this.o.dir, 'job-output');
    this.apelOutgoingDir = path.join(this.o.dir, 'apel', 'outgoing');
    this.hookEventsDir = path.join(this.o.dir, 'coordinator', 'hook-events');
    this.pool = Array.from({ length: this.o.poolSize }, (_, i) => ({
      hostname: `vwn-${String(i + 1).padStart(3, '0')}`,
      ip: `${this.o.lanPrefix}.${101 + i}`,
      mac: `52:54:00:13:00:${(i + 1).toString(16).padStart(2, '0')}`,
    }));
  }

  get frontendIp(): string {
    return this.sge.masterIp;
  }

  get coordinatorAddress(): string {
    return `${this.frontendIp}:${COORDINATOR_PORT}`;
  }

  get bdiiUrl(): string {
    return `ldap://127.0.0.1:${BDII_PORT}`;
  }

  /** Builds the appliances, brings every machine and daemon up, and waits until every agent is registered and up. */
  async start(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    await chmod(this.o.dir, 0o755); // sgeadmin and openldap walk through it
    await writeFile(path.join(this.o.dir, TESTBED_MARKER), `vonode testbed started ${new Date().toISOString()}\n`);
    this.say('compiling the daemons and the CLI (dist/, as installed)');
    await buildDaemons(this.runner);
    this.say('building the VO appliances (Debian cloud kernel, busybox, sge_execd, VO software; the first run downloads packages, later runs reuse the cache)');
    await this.buildAppliances();
    this.say(`starting the frontend: SGE qmaster on ${this.sge.master} (${this.frontendIp}), cluster LAN ${this.o.lanPrefix}.0/24`);
    await this.sge.start();
    await this.sge.addHostsEntries(this.pool);
    const hostIps: string[] = [];
    for (let i = 0; i < this.o.hosts; i++) hostIps.push(await this.sge.addMachine(this.hostName(i)));
    await this.makePki(hostIps);
    await this.startFrontendServers();
    await this.startCoordinator();
    await this.startBdii();
    await this.startGwd();
    for (let i = 0; i < this.o.hosts; i++) {
      const host = new PhysicalHost(this.hostName(i), hostIps[i]!, path.join(this.o.dir, 'hosts', this.hostName(i)), { sge: this.sge, pki: this.pki, coordinator: this.coordinatorAddress, imageSources: [`http://${this.frontendIp}:${IMAGE_PORT}/`], templates: this.o.templates === true || (this.o.templates === 'first-host' && i === 0) }, this.runner);
      this.hosts.push(host);
      this.say(`starting physical host ${host.name} (${host.ip}): bridge br0 on the LAN, dnsmasq, vonode-agent (QEMU, TCG)`);
      await mkdir(host.dir, { recursive: true });
      await host.start();
    }
    await this.waitForAgents();
    await this.writeCliWrapper();
  }

  /** Runs the real `vonode` CLI on the frontend (mutual TLS, the `cli` certificate); returns stdout. */
  async cli(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    return (await runChecked(this.runner, this.cliArgv(args), { timeoutMs })).stdout;
  }

  /** argv of the `vonode` CLI on the frontend. */
  cliArgv(args: readonly string[]): string[] {
    return this.inFrontend(builtNode('coordinator/cli/main.ts', [...this.cliConnection(), ...args]));
  }

  /** Sum of GLUE2ExecutionEnvironmentTotalInstances of vonode's execution environments in the BDII. */
  async bdiiInstances(): Promise<number> {
    const filter = '(&(objectClass=GLUE2ExecutionEnvironment)(GLUE2ResourceID=*_vonode))';
    const out = (await runChecked(this.runner, this.inFrontend(['ldapsearch', '-x', '-LLL', '-o', 'ldif-wrap=no', '-H', this.bdiiUrl, '-b', GLUE2_BASE, filter, 'GLUE2ExecutionEnvironmentTotalInstances']))).stdout;
    return [...out.matchAll(/^GLUE2ExecutionEnvironmentTotalInstances: (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  /** The last lines of the coordinator's and every agent's log: what a failed run shows. */
  async logTails(chars = 6000): Promise<string> {
    const parts = [`== coordinator\n${(await this.coordinator?.logTail(chars)) ?? '(not started)'}`];
    for (const h of this.hosts) parts.push(`== ${h.name} agent\n${(await h.agent?.logTail(chars / 2)) ?? '(not started)'}`);
    return parts.join('\n');
  }

  /** The events the coordinator's hooks were given so far, in the order they ran. */
  async hookEvents(): Promise<HookEvent[]> {
    return readHookEvents(this.hookEventsDir);
  }

  /** Exec hosts the qmaster knows that are vonode nodes. */
  async sgeNodes(): Promise<string[]> {
    const out = await this.sge.run(this.sge.master, ['qconf', '-sel']).then((r) => r.stdout, () => '');
    return out.split('\n').filter((h) => this.pool.some((p) => p.hostname === h.trim()));
  }

  /** Per host: guests' traces (QEMU processes, taps, DHCP files, overlays, domain records). */
  async leftovers(): Promise<Record<string, HostLeftovers>> {
    const all: Record<string, HostLeftovers> = {};
    for (const h of this.hosts) all[h.name] = await h.leftovers();
    return all;
  }

  /** Stops every daemon (coordinator last but one, agents after it), then the SGE machines and namespaces. */
  async stop(): Promise<void> {
    await this.gwd?.stop().catch(() => undefined);
    if (this.bdiiStarted) await runChecked(this.runner, ['bash', path.join(REPO, 'scripts/testbed/bdii.sh'), 'stop', path.join(this.o.dir, 'bdii')]).catch(() => undefined);
    await this.coordinator?.stop();
    for (const h of this.hosts) await h.stop();
    for (const d of this.daemons) await d.stop();
    await this.sge.stop().catch((e: Error) => this.say(`sge.sh stop: ${e.message}`));
  }

  /** argv running `argv` on the frontend (its namespaces, /etc/hosts, SGE environment). */
  inFrontend(argv: readonly string[]): string[] {
    return this.sge.on(this.sge.master, argv);
  }

  private hostName(i: number): string {
    return `phys-${String(i + 1).padStart(2, '0')}`;
  }

  private cliConnection(): string[] {
    return ['--coordinator', this.coordinatorAddress, '--ca', path.join(this.pki, 'ca.pem'), '--cert', path.join(this.pki, 'cli.pem'), '--key', path.join(this.pki, 'cli-key.pem')];
  }

  private async buildAppliances(): Promise<void> {
    const cache = path.join(process.env['VONODE_CACHE'] ?? '/var/cache/vonode-build', 'vo-appliances');
    for (const vo of VOS) {
      this.appliances[vo] = await ensureVoAppliance(path.join(cache, vo), vo, { applianceId: `${vo}-appliance-1.0`, payloadMb: this.o.payloadMb, packages: VO_SOFTWARE[vo].packages }, this.runner);
      this.say(`  ${vo}: ${this.appliances[vo]!.applianceId}, kernel ${this.appliances[vo]!.kernelRelease}`);
      // Piece manifests beside the files, as a site publishes them: hosts then take pieces from each other.
      const dir = this.appliances[vo]!.dir;
      await runChecked(this.runner, builtNode('coordinator/cli/main.ts', ['image-manifest', ...['disk.qcow2', 'vmlinuz', 'initrd.gz'].map((f) => path.join(dir, f))]));
    }
  }

  private async makePki(hostIps: readonly string[]): Promise<void> {
    // One certificate per party, each with its role (docs/access.md): the CLI is the site admin, GridWay's MAD and the BDII provider only read.
    const names = [
      '--role', 'coordinator', `coordinator:IP:${this.frontendIp},DNS:${this.sge.master}`, '--role', 'admin', 'cli',
      '--role', 'gridway', 'gridway', '--role', 'infosys', 'infosys', '--role', 'agent', ...hostIps.map((ip, i) => `${this.hostName(i)}:IP:${ip}`),
    ];
    await runChecked(this.runner, ['bash', path.join(REPO, 'scripts/pki/make-site-pki.sh'), this.pki, ...names]);
  }

  /** Image repository (the appliances, over HTTP on the LAN) and the job output collector. */
  private async startFrontendServers(): Promise<void> {
    const imageDir = path.dirname(this.appliances.bio!.dir);
    const logs = path.join(this.o.dir, 'logs');
    await mkdir(logs, { recursive: true });
    const repo = new TestbedProcess('image repository', this.inFrontend(tsNode('scripts/testbed/image-repo-server.ts', ['--dir', imageDir, '--host', this.frontendIp, '--port', String(IMAGE_PORT)])), path.join(logs, 'image-repo.log'));
    const jobs = new TestbedProcess('job output collector', this.inFrontend(tsNode('scripts/testbed/job-output-server.ts', ['--dir', this.jobOutputDir, '--host', this.frontendIp, '--port', String(JOB_OUTPUT_PORT)])), path.join(logs, 'job-output.log'));
    for (const d of [repo, jobs]) {
      this.daemons.push(d);
      d.start();
      await d.waitUntil('listening', async () => (await d.logTail()).includes(' on http://'), 30_000);
    }
    this.say(`image repository http://${this.frontendIp}:${IMAGE_PORT}/ (${imageDir}); job output collector :${JOB_OUTPUT_PORT}`);
  }

  /** The URL jobs POST their output to. */
  get jobOutputUrl(): string {
    return `http://${this.frontendIp}:${JOB_OUTPUT_PORT}`;
  }

  private async startCoordinator(): Promise<void> {
    const dir = path.join(this.o.dir, 'coordinator');
    await mkdir(dir, { recursive: true });
    const policyFile = path.join(dir, 'policy.yaml');
    await writeFile(policyFile, stringify(testbedPolicy({
      imageBase: `http://${this.frontendIp}:${IMAGE_PORT}`, appliances: { bio: this.appliances.bio!, fusion: this.appliances.fusion! },
      weights: this.o.weights, poolSize: this.o.poolSize, vmMemory: this.o.vmMemory, idleBeforeDrain: this.o.idleBeforeDrain,
      sge: { master: this.sge.master, masterIp: this.frontendIp, cell: this.sge.cell, execdSpoolDir: path.join(this.sge.dir, 'spool/execd') },
    })));
    const hookScript = await writeHookRecorder(path.join(dir, 'record-hook-event'), this.hookEventsDir);
    const configFile = path.join(dir, 'coordinator.yaml');
    await writeFile(configFile, stringify(testbedCoordinatorConfig({
      dir, listen: this.coordinatorAddress, policyFile, pool: this.pool, sgeRoot: this.sge.sgeRoot,
      sge: { master: this.sge.master, cell: this.sge.cell }, bdiiUrl: this.bdiiUrl, pki: this.pki,
      hookScript, apelDir: this.apelOutgoingDir,
    })));
    this.coordinator = new TestbedProcess('vonode-coordinator', this.inFrontend(builtNode('coordinator/main.ts', ['--config', configFile])), path.join(dir, 'coordinator.log'));
    this.daemons.push(this.coordinator);
    this.coordinator.start();
    await this.coordinator.waitUntil('answering', () => this.cli(['status', '--json'], 10_000).then(() => true), 60_000);
    this.say(`coordinator ${this.coordinatorAddress} (mutual TLS), policy bio:fusion = ${this.o.weights.bio}:${this.o.weights.fusion}, pool of ${this.o.poolSize}`);
  }

  /** A site BDII whose provider is scripts/bdii/vonode-provider (running `vonode glue2 --glue13` as openldap). */
  private async startBdii(): Promise<void> {
    const dir = path.join(this.o.dir, 'bdii');
    const providerDir = path.join(this.o.dir, 'bdii-provider');
    await mkdir(providerDir, { recursive: true });
    await chmod(providerDir, 0o755);
    // BDII runs its provider as openldap with an empty environment: the config and the infosys certificate must be its to read.
    for (const f of ['ca.pem', 'infosys.pem', 'infosys-key.pem']) {
      await copyFile(path.join(this.pki, f), path.join(providerDir, f));
      await runChecked(this.runner, ['chown', 'openldap', path.join(providerDir, f)]).catch(() => undefined);
    }
    const conf = path.join(providerDir, 'provider.conf');
    await writeFile(conf, [
      `VONODE_COORDINATOR=${this.coordinatorAddress}`,
      `VONODE_TLS_CA=${providerDir}/ca.pem`, `VONODE_TLS_CERT=${providerDir}/infosys.pem`, `VONODE_TLS_KEY=${providerDir}/infosys-key.pem`,
      `VONODE_GLUE_ARGS=--glue13 --ce-host ${this.sge.master} --timeout 10`,
      // the compiled CLI: BDII runs the provider every cycle, and node + tsx would cost ~0.3 s more each time
      `VONODE_CLI=${builtNode('coordinator/cli/main.ts').join(' ')}`, '',
    ].join('\n'));
    const provider = `'${path.join(REPO, 'scripts/bdii/vonode-provider')}' '${conf}'`;
    await runChecked(this.runner, this.inFrontend(['bash', path.join(REPO, 'scripts/testbed/bdii.sh'), 'start', dir, '--port', String(BDII_PORT), '--breathe', '1', '--provider', provider]), { timeoutMs: 900_000 });
    this.bdiiStarted = true;
    this.say(`site BDII ${this.bdiiUrl} on the frontend (provider: vonode-provider, breathe 1 s)`);
  }

  /** argv of GridWay's MAD as gwd.conf would start it (one args word, as gwd passes it). */
  private madArgv(): string[] {
    const [ca, cert, key] = ['ca.pem', 'gridway.pem', 'gridway-key.pem'].map((f) => path.join(this.pki, f));
    return builtNode('coordinator/gridway/main.ts', [`--coordinator ${this.coordinatorAddress} --ca ${ca} --cert ${cert} --key ${key} --lrms sge`]);
  }

  private async startGwd(): Promise<void> {
    this.gwd = new GwdStandIn(this.inFrontend(this.madArgv()), path.join(this.o.dir, 'logs', 'gwd-stand-in.log'));
    await this.gwd.start();
    this.say('GridWay: the real vonode-gw-im-mad, driven by a gwd STAND-IN (GridWay is not packaged for Debian)');
  }

  /**
   * For a testbed left running: hands GridWay's MAD over from this process's
   * stand-in to a stand-in process on the frontend (it goes with the
   * frontend's namespace), so the GW phase of later deployments still ends.
   */
  async keepGwdRunning(): Promise<void> {
    await this.gwd?.stop();
    this.gwd = undefined;
    const log = path.join(this.o.dir, 'logs', 'gwd-stand-in.log');
    const standIn = new TestbedProcess('gwd stand-in', this.inFrontend(tsNode('scripts/testbed/gwd-stand-in.ts', ['--log', log, '--', ...this.madArgv()])), path.join(this.o.dir, 'logs', 'gwd-stand-in.out'));
    standIn.start();
    await standIn.waitUntil('talking to the MAD', async () => (await standIn.logTail()).includes('the MAD answers'), 60_000);
  }

  private async waitForAgents(): Promise<void> {
    let up: string[] = [];
    try {
      await until('every agent registered and up', async () => {
        const hosts = JSON.parse(await this.cli(['hosts', '--json'])) as { hosts?: Array<{ name: string; state: string }> };
        up = (hosts.hosts ?? []).filter((h) => /UP/.test(h.state)).map((h) => h.name);
        return this.hosts.every((h) => up.includes(h.name));
      }, 90_000, 1000);
    } catch (e) {
      if (!(e instanceof WaitTimeoutError)) throw e;
      const logs = await Promise.all(this.hosts.map(async (h) => `${h.name}: ${(await h.agent?.logTail(800)) ?? ''}`));
      throw new Error(`agents not up after 90 s (up: ${up.join(', ') || 'none'})\n${logs.join('\n')}`);
    }
    this.say(`agents registered and up: ${up.sort().join(', ')}`);
  }

  /** DIR/vonode: the CLI, ready to use against this testbed (for --keep). */
  private async writeCliWrapper(): Promise<void> {
    const argv = this.cliArgv([]).map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const file = path.join(this.o.dir, 'vonode');
    await writeFile(file, `#!/bin/sh\n# The vonode CLI of the testbed in ${this.o.dir} (runs on its frontend).\ncd '${REPO}' && exec ${argv} "$@"\n`);
    await chmod(file, 0o755);
  }
}
