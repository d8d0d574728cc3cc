import path from 'node:path';
import { systemClock, type Clock } from '../../shared/clock.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { ProcessRunner, type CommandResult, type CommandRunner } from '../../shared/process/command-runner.js';
import { validateIntRange, validateSafePath } from '../../shared/validation.js';
import type { BatchCommandOptions } from './batch-command-options.js';

/**
 * The error a batch command's result stands for, or undefined if the command
 * worked. `program` is the name the adapter asked for (`qconf`), `argv` the
 * command as run (prefix and binDir included).
 */
export type BatchCommandCheck = (program: string, argv: readonly string[], result: CommandResult) => Error | undefined;

/**
 * BatchCommandOptions compiled (defaults applied, values validated), and the
 * one way an adapter runs its batch system's client commands: behind the
 * command prefix, from binDir, with the adapter's environment and the
 * command timeout.
 */
export class BatchCommandRunner {
  readonly clock: Clock;
  readonly log: Logger;
  /** pollIntervalMs. */
  readonly pollMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly prefix: readonly string[];
  private readonly binDir: string;
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly check: BatchCommandCheck;

  /**
   * `env` is the commands' whole environment (options.env or process.env with
   * the adapter's variables added); `check` tells failures. Throws
   * InvalidArgumentError naming the bad option.
   */
  constructor(options: BatchCommandOptions, env: NodeJS.ProcessEnv, check: BatchCommandCheck) {
    this.env = env;
    this.prefix = options.commandPrefix ?? [];
    this.binDir = options.binDir === undefined ? '' : validateSafePath('binDir', options.binDir);
    this.runner = options.runner ?? new ProcessRunner();
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
    this.pollMs = validateIntRange('pollIntervalMs', options.pollIntervalMs ?? 200, 10, 60_000);
    this.timeoutMs = validateIntRange('commandTimeoutMs', options.commandTimeoutMs ?? 30_000, 100, 600_000);
    this.check = check;
  }

  /** Runs a client command (argv[0] the program's bare name); throws the error `check` finds in its result. */
  async run([program, ...args]: readonly string[]): Promise<CommandResult> {
    const argv = [...this.prefix, this.binDir ? path.join(this.binDir, program!) : program!, ...args];
    const result = await this.runner.run(argv, { env: this.env, timeoutMs: this.timeoutMs });
    const error = this.check(program!, argv, result);
    if (error) throw error;
    return result;
  }
}
