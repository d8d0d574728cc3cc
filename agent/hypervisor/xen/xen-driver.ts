import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../../../shared/clock.js';
import { DeadlineError, InvalidArgumentError, UnavailableError } from '../../../shared/errors.js';
import { ProcessRunner, type CommandResult, type CommandRunner } from '../../../shared/process/command-runner.js';
import {
  DOMAIN_PREFIX,
  type DomainConfig,
  type DomainInfo,
  type DomainRunState,
  type HypervisorDriver,
} from '../hypervisor-driver.js';
import { renderXlConfig, type XlGuestType } from './xl-config.js';
import { classifyXlFailure, XlDomainNotFoundError } from './xl-errors.js';

/** Options of the Xen driver; defaults in the field docs. */
export interface XenDriverOptions {
  /** The xl binary; default 'xl' (found on PATH; on Debian /usr/sbin/xl picks the versioned one). */
  xlPath?: string;
  /** Guest type written into every xl.cfg. */
  type: XlGuestType;
  /** Bridge every guest vif joins. */
  bridge: string;
  /** Runs xl; default a ProcessRunner. */
  runner?: CommandRunner;
  /** Default the system clock. */
  clock?: Clock;
  /** How long start() waits after `xl create` for the domain to run; default 60 000 ms. */
  startTimeoutMs?: number;
  /** Pause between `xl list` polls; default 250 ms. */
  pollIntervalMs?: number;
  /** Kill one xl command after this long; default 120 000 ms (create waits for device backends). */
  commandTimeoutMs?: number;
}

/** One row of `xl list`. */
export interface XlListEntry {
  name: string;
  domid: number;
  /** Mem column: current plus outstanding memory, MiB. */
  memoryMb: number;
  vcpus: number;
  /** The six State flags as printed, e.g. "-b----". */
  flags: string;
  state: DomainRunState;
  cpuTimeS: number;
}

// Name, ID, Mem, VCPUs, State, Time(s). The name is printed %-40s, so a longer
// name just pushes the columns right; anchoring on the five numeric/flag
// columns at the end keeps parsing independent of that.
const LIST_ROW = /^(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-rbpscdwS?]{6})\s+(\d+(?:\.\d+)?)$/;

/**
 * Parses the plain `xl list [NAME]` table: skips the header and Domain-0
 * (domid 0). Throws UnavailableError on a row it cannot read, so a format
 * change cannot silently hide domains.
 */
export function parseXlList(stdout: string): XlListEntry[] {
  const entries: XlListEntry[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trimEnd();
    if (!line || /^Name\s+ID\s/.test(line)) continue;
    const entry = parseListRow(line);
    if (entry.domid !== 0) entries.push(entry);
  }
  return entries;
}

function parseListRow(line: string): XlListEntry {
  const m = LIST_ROW.exec(line);
  if (!m) throw new UnavailableError(`cannot parse xl list row: ${JSON.stringify(line)}`);
  const [, name = '', domid = '', mem = '', vcpus = '', flags = '', time = ''] = m;
  return { name, domid: Number(domid), memoryMb: Number(mem), vcpus: Number(vcpus), flags, state: xlRunState(flags), cpuTimeS: Number(time) };
}

/**
 * Maps xl list's positional State flags to a driver state. Positions:
 * 0 r(unning) 1 b(locked) 2 p(aused) 3 s(hutdown) 4 shutdown reason
 * ('-' poweroff, r reboot, s suspend, c crash, w watchdog, S soft reset) 5 d(ying).
 * Position matters: "---sr-" is a domain shut down for reboot, not a running one.
 */
export function xlRunState(flags: string): DomainRunState {
  const reason = flags[4];
  if (reason === 'c' || reason === 'w') return 'crashed';
  if (flags[3] === 's' || flags[5] === 'd') return 'shutdown';
  if (flags[2] === 'p') return 'paused';
  // r and b are running guests; all dashes is a runnable guest that simply
  // was not on a physical CPU at that instant, which is running too.
  return 'running';
}

/**
 * Runs domains with the xl toolstack from a generated xl.cfg per domain
 * (`<runDir>/<name>.cfg`). xl keeps no persistent definitions, so the
 * hypervisor's domain list is the only state.
 */
export class XenDriver implements HypervisorDriver {
  readonly kind = 'xen' as const;
  private readonly xlPath: string;
  private readonly runner: CommandRunner;
  private readonly clock: Clock;
  private readonly startTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly commandTimeoutMs: number;

  constructor(private readonly options: XenDriverOptions) {
    this.xlPath = options.xlPath ?? 'xl';
    this.runner = options.runner ?? new ProcessRunner();
    this.clock = options.clock ?? systemClock;
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 120_000;
  }

  /** Where start() writes a domain's xl.cfg. */
  static configPath(config: Pick<DomainConfig, 'name' | 'runDir'>): string {
    return path.join(config.runDir, `${config.name}.cfg`);
  }

  /** Writes the xl.cfg, runs `xl create`, then polls `xl list NAME` until running. Throws Xl*Error, UnavailableError or DeadlineError. */
  async start(config: DomainConfig, signal?: AbortSignal): Promise<void> {
    assertOurs(config.name);
    // Rendered first: a refused value leaves nothing behind.
    const text = renderXlConfig(config, { type: this.options.type, bridge: this.options.bridge });
    signal?.throwIfAborted();
    const cfgPath = XenDriver.configPath(config);
    await mkdir(config.runDir, { recursive: true });
    await writeFile(cfgPath, text, { mode: 0o600 });
    await this.xl(['create', cfgPath]);
    await this.waitRunning(config.name, signal);
  }

  /** `xl shutdown` (with ACPI fallback for HVM), then waits until the domain is gone or stopped; false on timeout. */
  async shutdown(name: string, timeoutMs: number): Promise<boolean> {
    assertOurs(name);
    // -F: an HVM guest without PV drivers has no PV control interface; fall
    // back to an ACPI power button. PV/PVH guests always have the interface.
    const args = this.options.type === 'hvm' ? ['shutdown', '-F', name] : ['shutdown', name];
    try {
      await this.xl(args);
    } catch (err) {
      if (err instanceof XlDomainNotFoundError) return true;
      throw err;
    }
    return this.waitStopped(name, timeoutMs);
  }

  /** `xl destroy`; a domain xl does not know is already destroyed. */
  async destroy(name: string): Promise<void> {
    assertOurs(name);
    try {
      await this.xl(['destroy', name]);
    } catch (err) {
      if (!(err instanceof XlDomainNotFoundError)) throw err;
    }
  }

  /** The vonode domains in `xl list`. */
  async list(): Promise<DomainInfo[]> {
    const { stdout } = await this.xl(['list']);
    return parseXlList(stdout)
      .filter((e) => e.name.startsWith(DOMAIN_PREFIX))
      .map((e) => ({ name: e.name, state: e.state }));
  }

  /** Nothing to release: domains keep running and no connection is held. */
  async close(): Promise<void> {
    // Nothing held open: every call is its own xl process.
  }

  /** The domain's `xl list` row, or undefined if xl does not know it. */
  private async lookup(name: string): Promise<XlListEntry | undefined> {
    try {
      const { stdout } = await this.xl(['list', name]);
      return parseXlList(stdout).find((e) => e.name === name);
    } catch (err) {
      if (err instanceof XlDomainNotFoundError) return undefined;
      throw err;
    }
  }

  private async waitRunning(name: string, signal?: AbortSignal): Promise<void> {
    const deadline = this.clock.monotonicMs() + this.startTimeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const entry = await this.lookup(name);
      if (!entry) throw new UnavailableError(`${name} vanished right after xl create (crashed? see /var/log/xen/xl-${name}.log)`);
      if (entry.state === 'running') return;
      if (entry.state === 'crashed' || entry.state === 'shutdown') {
        throw new UnavailableError(`${name} is ${entry.state} (${entry.flags}) right after xl create; see /var/log/xen/xl-${name}.log`);
      }
      if (this.clock.monotonicMs() >= deadline) {
        throw new DeadlineError(`${name} was still ${entry.state} (${entry.flags}) ${this.startTimeoutMs} ms after xl create`);
      }
      await this.clock.sleep(this.pollIntervalMs, signal);
    }
  }

  /** True once the domain is gone (on_poweroff=destroy) or stopped; false if still up at the deadline. */
  private async waitStopped(name: string, timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.monotonicMs() + timeoutMs;
    for (;;) {
      const entry = await this.lookup(name);
      if (!entry || entry.state === 'shutdown' || entry.state === 'crashed') return true;
      if (this.clock.monotonicMs() >= deadline) return false;
      await this.clock.sleep(this.pollIntervalMs);
    }
  }

  /** Runs `xl ARGS`; throws the classified Xl*Error unless it exits 0. */
  private async xl(args: readonly string[]): Promise<CommandResult> {
    const argv = [this.xlPath, ...args];
    const result = await this.runner.run(argv, { timeoutMs: this.commandTimeoutMs });
    if (result.code !== 0) throw classifyXlFailure(argv, result);
    return result;
  }
}

// Only DOMAIN_PREFIX names are ours. It also keeps xl from reading the name
// as a domid (all digits) or an option (leading '-').
function assertOurs(name: string): void {
  if (!name.startsWith(DOMAIN_PREFIX)) throw new InvalidArgumentError('name', `"${name}" is not a vonode domain (no ${DOMAIN_PREFIX} prefix)`);
}
