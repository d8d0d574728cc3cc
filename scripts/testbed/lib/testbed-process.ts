import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChecked, type CommandRunner } from '../../../shared/process/command-runner.js';
import { until } from './wait.js';

/** How long TestbedProcess.stop() waits after its signal before SIGKILL. */
export const STOP_GRACE_MS = 15_000;

/** The repository root (daemons run from it so `--import tsx` resolves). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** argv that runs a TypeScript entry point of this repository with node + tsx. */
export function tsNode(entry: string, args: readonly string[] = [], nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, ...nodeFlags, '--import', 'tsx', path.join(REPO, entry), ...args];
}

/**
 * argv that runs a daemon or the CLI as installed: the compiled build
 * (dist/, `npm run build`) with plain node. `entry` is the source path, e.g.
 * "coordinator/main.ts".
 */
export function builtNode(entry: string, args: readonly string[] = [], nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, ...nodeFlags, path.join(REPO, 'dist', entry.replace(/\.ts$/, '.js')), ...args];
}

/**
 * argv of an entry point for the test suite: the compiled build when the run
 * built it first (scripts/test.sh sets VONODE_TEST_USE_DIST=1 after `npm run
 * build`; plain node starts about a second sooner than tsx, and the suite
 * starts a few hundred daemons and CLIs), otherwise the sources through tsx,
 * so a single spec run by hand always runs the code as it is now.
 */
export function repoNode(entry: string, args: readonly string[] = [], nodeFlags: readonly string[] = []): string[] {
  return process.env['VONODE_TEST_USE_DIST'] === '1' ? builtNode(entry, args, nodeFlags) : tsNode(entry, args, nodeFlags);
}

/** Compiles agent/, coordinator/ and shared/ into dist/ (tsconfig.build.json), as `npm run build` does. */
export async function buildDaemons(runner: CommandRunner): Promise<void> {
  await runChecked(runner, [process.execPath, path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.build.json')], { timeoutMs: 300_000 });
}

/**
 * A long-running process of the testbed (a daemon, a server): started with an
 * argv array, its stdout and stderr appended to a log file, stopped by its
 * PID. The argv must exec its way to the daemon (`ip netns exec`, `nsenter`,
 * `sh -c 'exec …'`) so the PID we hold is the daemon's own.
 */
export class TestbedProcess {
  private proc: ChildProcess | undefined;

  constructor(
    readonly label: string,
    readonly argv: readonly string[],
    readonly logFile: string,
  ) {}

  /** Starts it (once). */
  start(): void {
    if (this.proc) throw new Error(`${this.label} was already started`);
    const log = openSync(this.logFile, 'a');
    const [cmd, ...args] = this.argv;
    this.proc = spawn(cmd!, args, { cwd: REPO, stdio: ['ignore', log, log], env: { ...process.env, VONODE_LOG_LEVEL: process.env['VONODE_LOG_LEVEL'] ?? 'info' } });
    closeSync(log);
    // Spawn failures (ENOENT) surface through running/exitCode; keep them from crashing the orchestrator.
    this.proc.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** True while the process has neither exited nor been killed. */
  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The last `chars` characters of its log. */
  async logTail(chars = 2000): Promise<string> {
    return (await readFile(this.logFile, 'utf8').catch(() => '')).slice(-chars);
  }

  /**
   * Polls `ready` (every 0.1 s; a throw counts as not yet) until it returns
   * something other than undefined or false, and resolves with that. Throws
   * with the log's tail if the process exits first or time runs out.
   */
  async waitUntil<T>(what: string, ready: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
    try {
      return await until(what, async () => {
        const v = await ready().catch(() => undefined);
        if ((v === undefined || v === false) && !this.running) throw new Error(`${this.label} exited`);
        return v;
      }, timeoutMs);
    } catch {
      const why = this.running ? `not ${what} after ${timeoutMs / 1000} s` : `exited (${this.proc?.exitCode ?? this.proc?.signalCode}) before ${what}`;
      throw new Error(`${this.label} ${why}; see ${this.logFile}:\n${await this.logTail()}`);
    }
  }

  /**
   * Sends `signal` (SIGTERM: a clean stop; SIGKILL: a crash), then SIGKILL
   * after `graceMs`; resolves once it is gone. Safe to call twice.
   */
  async stop(graceMs = STOP_GRACE_MS, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
