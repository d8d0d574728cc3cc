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

  /** The command's exit status. */
  get exitCode(): number {
    return this.result.code;
  }

  /** Everything the command wrote to stderr. */
  get stderr(): string {
    return this.result.stderr;
  }
}

/** An error class a failure classifier builds from a failed command. */
export type CommandErrorClass<E> = new (argv: readonly string[], result: CommandResult) => E;

/** One rule of a failure classifier: a failure whose output matches any of the patterns is an error of the class. */
export type FailureRule<E> = readonly [patterns: readonly RegExp[], errorClass: CommandErrorClass<E>];

/**
 * The error of the first rule (in order) with a pattern matching the
 * command's stderr or stdout (some tools print their errors on stdout), or
 * undefined if none matches. Never throws.
 */
export function matchFailure<E>(argv: readonly string[], result: CommandResult, rules: ReadonlyArray<FailureRule<E>>): E | undefined {
  const text = `${result.stderr}\n${result.stdout}`;
  const rule = rules.find(([patterns]) => patterns.some((re) => re.test(text)));
  return rule && new rule[1](argv, result);
}

/**
 * Where the first of `programs` sits in argv, by bare name, and that name;
 * undefined if none is there. argv may carry a prefix (`ip netns exec NS …`,
 * `nsenter --net=… …`) and the program a directory (`/usr/bin/qconf`).
 */
export function findProgram(argv: readonly string[], programs: ReadonlySet<string>): { index: number; name: string } | undefined {
  const index = argv.findIndex((a) => programs.has(baseName(a)));
  return index < 0 ? undefined : { index, name: baseName(argv[index]!) };
}

function baseName(file: string): string {
  return file.split('/').pop() ?? '';
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
