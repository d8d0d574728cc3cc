import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** A child process the benchmark started, with its PID and where its output goes. */
export interface BenchChild {
  label: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
}

/**
 * Every process the benchmark starts, so each can be killed by its PID at
 * the end, on error and on ^C (never by name). Output goes to log files, not
 * pipes: a daemon that logs a lot must not be slowed by a slow reader.
 */
export class BenchProcesses {
  readonly children: BenchChild[] = [];

  /** Starts `node --import tsx <script> ...args` (or plain node for .js), stdout+stderr appended to `logFile`. Throws if it cannot start. */
  spawnNode(label: string, script: string, args: string[], logFile: string, options: { cwd: string; env?: NodeJS.ProcessEnv; stdoutPipe?: boolean; nodeArgs?: string[] }): BenchChild {
    const fd = openSync(logFile, 'a');
    const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
    try {
      // stdin is a pipe we never write: children may watch for its end to notice that the benchmark died.
      const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), ...loader, script, ...args], {
        cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', options.stdoutPipe ? 'pipe' : fd, fd],
      });
      if (proc.pid === undefined) throw new Error(`${label}: could not start ${script}`);
      const child = { label, proc, pid: proc.pid, logFile };
      this.children.push(child);
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** Sends `signal` to one child by PID and waits (at most `waitMs`) for it to exit; SIGKILLs it if it did not. */
  async stop(child: BenchChild, signal: NodeJS.Signals = 'SIGKILL', waitMs = 10_000): Promise<void> {
    if (!isRunning(child)) return;
    const exited = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
    process.kill(child.pid, signal);
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), waitMs).unref());
    if ((await Promise.race([exited, timer])) === 'timeout' && isRunning(child)) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  }

  /** SIGKILLs every child still running, by PID, synchronously (usable from an exit handler). */
  killAllNow(): void {
    for (const c of this.children) {
      if (isRunning(c)) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

/** True until the child has exited. */
export function isRunning(child: BenchChild): boolean {
  return child.proc.exitCode === null && child.proc.signalCode === null;
}

/** Resolves with the first JSON line on the child's stdout that has `event === name`; rejects if it exits first or after `timeoutMs`. */
export function waitForJsonLine<T>(child: BenchChild, name: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    if (!child.proc.stdout) return reject(new Error(`${child.label}: stdout is not a pipe`));
    const lines = createInterface({ input: child.proc.stdout });
    const timer = setTimeout(() => done(new Error(`${child.label}: no "${name}" within ${timeoutMs} ms (see ${child.logFile})`)), timeoutMs);
    const onExit = (code: number | null, sig: string | null): void => done(new Error(`${child.label} exited (${code ?? sig}) before "${name}" (see ${child.logFile})`));
    const done = (err: Error | undefined, value?: T): void => {
      clearTimeout(timer);
      child.proc.off('exit', onExit);
      lines.close();
      if (err) reject(err);
      else resolve(value as T);
    };
    child.proc.once('exit', onExit);
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string };
        if (msg.event === name) done(undefined, msg as T);
      } catch {
        // not ours
      }
    });
  });
}
