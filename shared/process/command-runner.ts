import { spawn } from 'node:child_process';
import { UnavailableError } from '../errors.js';

/** Result of an external command that ran to completion. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for one command. */
export interface RunOptions {
  /** Text written to the command's stdin, then closed. */
  input?: string;
  /** Kill the command (SIGKILL) after this long. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Runs external programs. Always an argument array, never a shell string, so
 * no value can be interpreted by a shell.
 */
export interface CommandRunner {
  /** Runs argv[0] with the rest as arguments; resolves with any exit code. Rejects only if it cannot start or times out. */
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/** A command exited non-zero; carries argv, exit code and stderr for the operator. */
export class CommandFailedError extends UnavailableError {
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
    what = argv[0],
  ) {
    super(`${what} failed (exit ${result.code}): ${firstLine(result.stderr || result.stdout)} [${argv.join(' ')}]`);
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ') || 'no output';
}

/** Runs argv and throws CommandFailedError unless it exits 0. */
export async function runChecked(runner: CommandRunner, argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
  const result = await runner.run(argv, options);
  if (result.code !== 0) throw new CommandFailedError(argv, result);
  return result;
}

/** The real runner, on node:child_process.spawn (no shell). */
export class ProcessRunner implements CommandRunner {
  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (!file) return Promise.reject(new Error('empty argv'));
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timer: NodeJS.Timeout | undefined;
      if (options.timeoutMs) {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new UnavailableError(`${file} timed out after ${options.timeoutMs} ms [${argv.join(' ')}]`));
        }, options.timeoutMs);
      }
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        if (timer) clearTimeout(timer);
        reject(new UnavailableError(`cannot run ${file}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
      child.stdin.on('error', () => undefined); // a command that ignores stdin may close it early
      child.stdin.end(options.input ?? '');
    });
  }
}
