import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ProcessRunner, runChecked, type CommandResult } from '../../shared/process/command-runner.js';
import { sleep } from './wait.js';

const CHROOT = '/usr/sbin/chroot';
/** The environment a systemd service starts with, before its Environment= lines. */
const SERVICE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Options of a command run inside the root. */
export interface InRootOptions {
  /** `user:group` to run as (chroot --userspec); default root. */
  user?: string;
  /** Added to the service-like environment (PATH, LANG). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * A Debian root directory to run installed programs in with chroot: it mounts /proc, /sys and a
 * bind of /dev on demand, runs commands in a clean service-like environment (nothing of the test
 * process's environment leaks in), keeps the daemons it spawned by PID, and `close()` stops every
 * one of them and unmounts everything it mounted. Root only.
 */
export class ChrootRoot {
  private readonly runner = new ProcessRunner();
  private readonly mounts: string[] = [];
  private readonly daemons: ChildProcess[] = [];

  constructor(readonly dir: string) {}

  /** The host path of a path inside the root. */
  at(inside: string): string {
    return path.join(this.dir, inside);
  }

  /** Mounts proc, sysfs and a bind of the host's /dev into the root (once). */
  async mountSystem(): Promise<void> {
    if (this.mounts.length > 0) return;
    for (const [what, argv] of [
      ['proc', ['-t', 'proc', 'proc']],
      ['sys', ['-t', 'sysfs', 'sysfs']],
      ['dev', ['--bind', '/dev']],
    ] as const) {
      const target = this.at(what);
      await runChecked(this.runner, ['mount', ...argv, target]);
      this.mounts.push(target);
    }
  }

  /** Runs argv inside the root; resolves with any exit code. */
  run(argv: readonly string[], options: InRootOptions = {}): Promise<CommandResult> {
    return this.runner.run(this.chrootArgv(argv, options.user), { env: this.env(options.env), timeoutMs: options.timeoutMs ?? 60_000 });
  }

  /** Runs argv inside the root and throws unless it exits 0. */
  runOk(argv: readonly string[], options: InRootOptions = {}): Promise<CommandResult> {
    return runChecked(this.runner, this.chrootArgv(argv, options.user), { env: this.env(options.env), timeoutMs: options.timeoutMs ?? 60_000 });
  }

  /**
   * Starts a daemon inside the root. chroot execs the command and the /usr/bin wrappers exec
   * node, so the PID held is the daemon's own. Its output is kept for `output()`.
   */
  spawnDaemon(argv: readonly string[], options: InRootOptions = {}): RootDaemon {
    const [cmd, ...args] = this.chrootArgv(argv, options.user);
    const proc = spawn(cmd!, args, { env: this.env(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const keep = (d: Buffer): void => {
      lines.push(...d.toString().split('\n').filter(Boolean).map((l) => l.slice(0, 400)));
      if (lines.length > 400) lines.splice(0, 200);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    this.daemons.push(proc);
    return { proc, output: () => lines.slice(-30).join('\n') };
  }

  /** The numeric uid a running process has (from the host's /proc). */
  async uidOf(pid: number): Promise<number> {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  }

  /**
   * Stops every daemon it started (SIGTERM, then SIGKILL after `graceMs`), by PID, and unmounts
   * what it mounted. Throws if a mount could not be removed: then the root must not be deleted
   * (it would reach into the host's /dev).
   */
  async close(graceMs = 5000): Promise<void> {
    for (const p of this.daemons) signal(p, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (this.daemons.some(running) && Date.now() < deadline) await sleep(100);
    for (const p of this.daemons) signal(p, 'SIGKILL');
    while (this.daemons.some(running)) await sleep(50);
    for (const target of this.mounts.splice(0).reverse()) {
      const r = await this.runner.run(['umount', target]);
      if (r.code !== 0) await this.runner.run(['umount', '-l', target]);
    }
    const left = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m === this.dir || m.startsWith(`${this.dir}/`));
    if (left.length > 0) throw new Error(`still mounted under ${this.dir}: ${left.join(', ')}`);
  }

  private chrootArgv(argv: readonly string[], user?: string): string[] {
    return [CHROOT, ...(user ? [`--userspec=${user}`] : []), this.dir, ...argv];
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { PATH: SERVICE_PATH, LANG: 'C.UTF-8', ...extra };
  }
}

/** A daemon started inside the root. */
export interface RootDaemon {
  proc: ChildProcess;
  /** Its last lines of output, for assertion messages. */
  output(): string;
}

function signal(p: ChildProcess, sig: NodeJS.Signals): void {
  if (!running(p)) return;
  try {
    process.kill(p.pid!, sig);
  } catch {
    // it ended in between
  }
}

function running(p: ChildProcess): boolean {
  return p.pid !== undefined && p.exitCode === null && p.signalCode === null;
}
