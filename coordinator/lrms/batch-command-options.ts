import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { CommandRunner } from '../../shared/process/command-runner.js';

/** How a batch-system adapter runs the batch system's client commands (options both adapters share). */
export interface BatchCommandOptions {
  /** Directory of the client programs. Default: found on PATH. */
  binDir?: string;
  /** Base environment of the commands. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** argv put before every command, e.g. to run it in the batch master's network namespace. Default: none. */
  commandPrefix?: readonly string[];
  /** Default: the real ProcessRunner. */
  runner?: CommandRunner;
  /** Default: systemClock. */
  clock?: Clock;
  /** Default: a silent logger. */
  logger?: Logger;
  /** How often waits (registration, drain) look again. Default 200 ms. */
  pollIntervalMs?: number;
  /** Kill a command that takes longer. Default 30 s. */
  commandTimeoutMs?: number;
}
