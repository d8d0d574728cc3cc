import { status } from '@grpc/grpc-js';
import { CommandFailedError, findProgram, matchFailure, type CommandResult, type FailureRule } from '../../../shared/process/command-runner.js';

/**
 * A Grid Engine client command (qconf, qmod, qstat) failed; carries argv,
 * exit code (0 for the few errors qconf exits 0 on; see qconfFailedSilently),
 * stdout and stderr. Base of every SGE error.
 */
export class SgeCommandError extends CommandFailedError {
  constructor(argv: readonly string[], result: CommandResult) {
    super(argv, result, sgeCommandName(argv));
  }
}

/** The object (exec host, host group, queue, queue instance, configuration) does not exist. */
export class SgeNotFoundError extends SgeCommandError {
  override readonly code: status = status.NOT_FOUND;
}

/** The object already exists. */
export class SgeAlreadyExistsError extends SgeCommandError {
  override readonly code: status = status.ALREADY_EXISTS;
}

/** The host is still named somewhere (a queue's host list or a per-host value), so it cannot be deleted yet. */
export class SgeHostInUseError extends SgeCommandError {
  override readonly code: status = status.FAILED_PRECONDITION;
}

/** The qmaster cannot resolve the host name (DNS or hosts file): it cannot become an exec host. */
export class SgeUnknownHostError extends SgeCommandError {
  override readonly code: status = status.FAILED_PRECONDITION;
}

/** The qmaster refused: this host is not an admin host, or the user is not a manager. */
export class SgePermissionError extends SgeCommandError {
  override readonly code: status = status.PERMISSION_DENIED;
}

/** The qmaster could not be reached (not running, wrong port or cell). Worth retrying. */
export class SgeQmasterUnreachableError extends SgeCommandError {}

// Messages of Grid Engine 8.1.9 clients, as printed in the testbed. qmod
// writes its errors to stdout, qconf and qstat to stderr: both are read.
const UNREACHABLE = [
  /unable to (?:send message to|contact) qmaster/,
  /commlib error/,
  /can't (?:connect|open connection)/i,
  /cell directory "[^"]*" doesn't exist/,
];
const UNKNOWN_HOST = [/can't resolve hostname/, /unable to resolve host/];
const IN_USE = [/is still referenced in/];
const ALREADY_EXISTS = [/already exists/];
const NOT_FOUND = [
  /does not exist/, // host group "@x" / execution host "x" / configuration
  /is not an execution host/,
  /No cluster queue or queue instance matches/,
  /invalid queue "/,
  /^no [\w ]+ defined$/m, // "no execution host defined", "no host group list defined"
];
const PERMISSION = [/is neither submit nor admin host/, /must be manager/, /denied: .*is no (?:manager|operator)/];
// In this order: the first rule that matches wins.
const RULES: ReadonlyArray<FailureRule<SgeCommandError>> = [
  [UNREACHABLE, SgeQmasterUnreachableError],
  [UNKNOWN_HOST, SgeUnknownHostError],
  [IN_USE, SgeHostInUseError],
  [ALREADY_EXISTS, SgeAlreadyExistsError],
  [NOT_FOUND, SgeNotFoundError],
  [PERMISSION, SgePermissionError],
];

/**
 * The specific error for a failed qconf/qmod/qstat: not found, already
 * exists, host in use, unknown host, permission, qmaster unreachable, or the
 * generic SgeCommandError. `qstat -q QUEUE@HOST` for an instance that does
 * not exist exits 1 printing nothing: that is a not-found too. Never throws.
 */
export function classifySgeFailure(argv: readonly string[], result: CommandResult): SgeCommandError {
  const known = matchFailure(argv, result, RULES);
  if (known) return known;
  const silent = !result.stderr.trim() && !result.stdout.trim();
  if (findProgram(argv, SGE_COMMANDS)?.name === 'qstat' && argv.includes('-q') && silent) return new SgeNotFoundError(argv, result);
  return new SgeCommandError(argv, result);
}

/**
 * True when qconf reported a failure despite exiting 0 (it does for some
 * errors, e.g. an unreadable -Ahgrp file: "error: error opening file …").
 */
export function qconfFailedSilently(result: CommandResult): boolean {
  return /^error:/m.test(result.stderr) || /^error:/m.test(result.stdout);
}

// argv may carry a prefix (e.g. `ip netns exec NS …`): name the SGE command itself.
const SGE_COMMANDS = new Set(['qconf', 'qmod', 'qstat', 'qsub', 'qdel', 'qhost', 'qacct']);

function sgeCommandName(argv: readonly string[]): string {
  const found = findProgram(argv, SGE_COMMANDS);
  if (!found) return argv[0] ?? 'sge command';
  const option = argv[found.index + 1];
  return option?.startsWith('-') ? `${found.name} ${option}` : found.name;
}
