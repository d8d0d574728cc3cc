import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../../../shared/clock.js';
import { DeadlineError, UnavailableError } from '../../../shared/errors.js';
import { ProcessRunner, type CommandRunner } from '../../../shared/process/command-runner.js';
import {
  DOMAIN_PREFIX,
  type DomainConfig,
  type DomainInfo,
  type DomainRunState,
  type HypervisorDriver,
} from '../hypervisor-driver.js';
import { buildQemuArgv, qemuPaths, type QemuArgvOptions } from './qemu-argv.js';
import { isOurQemu, readPidFile } from './qemu-process.js';
import { QemuSnapshots } from './qemu-snapshots.js';
import { QmpClient } from './qmp-client.js';
import { createTap, deleteTap, tapNameFor } from './tap-device.js';

const POWER_BUTTON_REPEAT_MS = 2000;

/** Options of the QEMU driver; defaults suit this project's TCG hosts. */
export interface QemuDriverOptions extends Partial<QemuArgvOptions> {
  /** Directory holding one run directory per domain (`<runRoot>/<domain name>`). */
  runRoot: string;
  /** Bridge the guests' tap devices join. */
  bridge: string;
  runner?: CommandRunner;
  clock?: Clock;
}

// QMP run states (query-status) mapped to the driver-neutral states.
const RUN_STATES: Record<string, DomainRunState> = {
  running: 'running',
  paused: 'paused',
  prelaunch: 'paused',
  suspended: 'paused',
  shutdown: 'shutdown',
  'guest-panicked': 'crashed',
  'internal-error': 'crashed',
  'io-error': 'crashed',
};

/**
 * Runs domains as daemonized QEMU processes controlled over QMP, each with a
 * tap device on the host bridge. A domain is identified by its run directory
 * (`<runRoot>/<name>`), so the driver needs no state of its own.
 */
export class QemuDriver implements HypervisorDriver {
  readonly kind = 'qemu' as const;
  readonly snapshots: QemuSnapshots;
  private readonly argvOptions: QemuArgvOptions;
  private readonly runner: CommandRunner;
  private readonly clock: Clock;

  constructor(private readonly options: QemuDriverOptions) {
    this.argvOptions = {
      binary: options.binary ?? 'qemu-system-x86_64',
      accel: options.accel ?? 'tcg',
      machine: options.machine ?? 'pc',
    };
    this.runner = options.runner ?? new ProcessRunner();
    this.clock = options.clock ?? systemClock;
    this.snapshots = new QemuSnapshots({ runner: this.runner, argv: this.argvOptions, bridge: options.bridge, clock: this.clock, destroy: (name) => this.destroy(name) });
  }

  /** Run directory of a domain; the deployer passes the same path in DomainConfig.runDir. */
  runDirFor(name: string): string {
    return path.join(this.options.runRoot, name);
  }

  async start(config: DomainConfig, signal?: AbortSignal): Promise<void> {
    const paths = qemuPaths(config.runDir);
    await mkdir(config.runDir, { recursive: true });
    await rm(paths.qmpSocket, { force: true });
    await rm(paths.pidFile, { force: true });
    const tap = tapNameFor(config.name);
    await createTap(this.runner, tap, this.options.bridge);
    const argv = buildQemuArgv(config, tap, this.argvOptions);
    // With -daemonize the parent exits once the VM is set up, so a bad
    // argument or missing file surfaces here with QEMU's own message.
    const launched = await this.runner.run(argv, { timeoutMs: 60_000 });
    if (launched.code !== 0) {
      await deleteTap(this.runner, tap);
      throw new UnavailableError(`qemu could not create ${config.name}: ${launched.stderr.trim() || `exit ${launched.code}`}`);
    }
    signal?.throwIfAborted();
    const qmp = await QmpClient.connect(paths.qmpSocket);
    try {
      await qmp.execute('cont');
      const status = await qmp.execute<{ status: string }>('query-status');
      if (status.status !== 'running') throw new UnavailableError(`${config.name} is ${status.status} after cont`);
    } finally {
      qmp.close();
    }
  }

  async shutdown(name: string, timeoutMs: number): Promise<boolean> {
    const paths = qemuPaths(this.runDirFor(name));
    const pid = await this.livePid(name);
    if (pid === undefined) return true;
    const deadline = this.clock.monotonicMs() + timeoutMs;
    // Press the power button again every few seconds: a guest still booting
    // (no ACPI daemon yet) drops the first press, as real hardware guests do.
    while (this.clock.monotonicMs() < deadline) {
      await this.pressPowerButton(paths.qmpSocket);
      const slice = Math.min(POWER_BUTTON_REPEAT_MS, deadline - this.clock.monotonicMs());
      if (await this.waitExit(pid, paths.qmpSocket, slice)) return true;
    }
    return false;
  }

  private async pressPowerButton(qmpSocket: string): Promise<void> {
    const qmp = await QmpClient.connect(qmpSocket).catch(() => undefined);
    if (!qmp) return; // QEMU is exiting
    try {
      await qmp.execute('system_powerdown');
    } catch {
      // QEMU may exit while answering; waitExit tells.
    } finally {
      qmp.close();
    }
  }

  async destroy(name: string): Promise<void> {
    const runDir = this.runDirFor(name);
    const paths = qemuPaths(runDir);
    const pid = await this.livePid(name);
    if (pid !== undefined) {
      process.kill(pid, 'SIGKILL');
      if (!(await this.waitExit(pid, paths.qmpSocket, 10_000))) {
        throw new DeadlineError(`qemu pid ${pid} of ${name} did not exit after SIGKILL`);
      }
    }
    await deleteTap(this.runner, tapNameFor(name));
    await rm(runDir, { recursive: true, force: true });
  }

  async list(): Promise<DomainInfo[]> {
    let names: string[];
    try {
      names = (await readdir(this.options.runRoot)).filter((n) => n.startsWith(DOMAIN_PREFIX));
    } catch {
      return [];
    }
    return Promise.all(names.map(async (name) => ({ name, state: await this.stateOf(name) })));
  }

  async close(): Promise<void> {
    // Nothing held open: every call opens its own short QMP connection.
  }

  /** The domain's state; a run directory whose QEMU is gone reads as 'shutdown' so recovery cleans it. */
  private async stateOf(name: string): Promise<DomainRunState> {
    const pid = await this.livePid(name);
    if (pid === undefined) return 'shutdown';
    try {
      const qmp = await QmpClient.connect(qemuPaths(this.runDirFor(name)).qmpSocket, 2000);
      try {
        const status = await qmp.execute<{ status: string }>('query-status');
        return RUN_STATES[status.status] ?? 'crashed';
      } finally {
        qmp.close();
      }
    } catch {
      return 'crashed';
    }
  }

  private async livePid(name: string): Promise<number | undefined> {
    const paths = qemuPaths(this.runDirFor(name));
    const pid = await readPidFile(paths.pidFile);
    return pid !== undefined && (await isOurQemu(pid, paths.qmpSocket)) ? pid : undefined;
  }

  private async waitExit(pid: number, qmpSocket: string, timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.monotonicMs() + timeoutMs;
    while (await isOurQemu(pid, qmpSocket)) {
      if (this.clock.monotonicMs() > deadline) return false;
      await this.clock.sleep(50);
    }
    return true;
  }
}
