import { status } from '@grpc/grpc-js';
import { FailedPreconditionError } from '../../../shared/errors.js';
import { CommandFailedError, findProgram, matchFailure, type CommandResult, type FailureRule } from '../../../shared/process/command-runner.js';

/**
 * A Slurm client command (scontrol, squeue, sinfo) failed; carries argv, exit
 * code, stdout and stderr. Base of every Slurm command error.
 */
export class SlurmCommandError extends CommandFailedError {
  constructor(argv: readonly string[], result: CommandResult) {
    super(argv, result, slurmCommandName(argv));
  }
}

/** slurmctld does not know the node. Adapters treat it as "already gone" where that is the goal. */
export class SlurmNodeNotFoundError extends SlurmCommandError {
  override readonly code: status = status.NOT_FOUND;
}

/** The node still has jobs allocated (running or completing): slurmctld refuses to delete it. */
export class SlurmNodeBusyError extends SlurmCommandError {
  override readonly code: status = status.FAILED_PRECONDITION;
}

/** The node already exists (scontrol create). */
export class SlurmNodeExistsError extends SlurmCommandError {
  override readonly code: status = status.ALREADY_EXISTS;
}

/** slurmctld rejected the request itself: a bad node line, state or parameter. */
export class SlurmInvalidRequestError extends SlurmCommandError {
  override readonly code: status = status.INVALID_ARGUMENT;
}

/** The caller is not a Slurm operator/administrator (slurmctld says "Invalid user id"). */
export class SlurmPermissionError extends SlurmCommandError {
  override readonly code: status = status.PERMISSION_DENIED;
}

/**
 * slurmctld could not be reached (not running, wrong SLURM_CONF, network), or
 * no configuration was found at all. Worth retrying.
 */
export class SlurmControllerUnreachableError extends SlurmCommandError {}

/**
 * A node cannot become (or stay) an execution host of the VO as asked: it is
 * known with another VO's feature, is not in the VO's partition, or
 * slurmctld rejected its slurmd's registration (INVALID_REG, e.g. fewer CPUs
 * than configured). Not a command failure: the commands worked.
 */
export class SlurmNodeConflictError extends FailedPreconditionError {
  constructor(
    readonly node: string,
    message: string,
  ) {
    super(`slurm node ${node}: ${message}`);
  }
}

/**
 * A VO's partition cannot take its jobs: it is missing from slurm.conf
 * (partitions fed by a NodeSet cannot be made at run time) or INACTIVE.
 */
export class SlurmPartitionError extends FailedPreconditionError {
  constructor(
    readonly partition: string,
    message: string,
  ) {
    super(`slurm partition ${partition}: ${message}`);
  }
}

// Messages of Slurm 22.05.8 clients as printed in the testbed
// (test/fixtures/slurm/scontrol-failures.json). All go to stderr except
// `scontrol show node X`, which prints "Node X not found" on stdout.
const UNREACHABLE = [
  /Unable to contact slurm controller/,
  /Could not establish a configuration source/,
  /Socket timed out on send\/recv/,
  /Zero Bytes were transmitted or received/,
  /Communication connection failure/,
];
const PERMISSION = [/Invalid user id/, /Access\/permission denied/, /Invalid authentication credential/];
const BUSY = [/Requested nodes are busy/];
const EXISTS = [/already exists/i, /Duplicate node name/i];
const NOT_FOUND = [/Invalid node name specified/, /^Node \S+ not found/m];
const INVALID = [
  /Failed to parse nodeline/,
  /Invalid node state specified/,
  /Only State=\S+ and State=\S+ allowed/,
  /^Invalid input:/m,
  /Unspecified error/, // what 22.05 answers a node line it cannot parse
];
// In this order: the first rule that matches wins.
const RULES: ReadonlyArray<FailureRule<SlurmCommandError>> = [
  [UNREACHABLE, SlurmControllerUnreachableError],
  [PERMISSION, SlurmPermissionError],
  [BUSY, SlurmNodeBusyError],
  [EXISTS, SlurmNodeExistsError],
  [NOT_FOUND, SlurmNodeNotFoundError],
  [INVALID, SlurmInvalidRequestError],
];

/**
 * The specific error for a failed scontrol/squeue/sinfo: controller
 * unreachable, permission, node busy, node exists, node not found, invalid
 * request, or the generic SlurmCommandError. Never throws; the caller throws
 * what it returns (or ignores a not-found where that is fine).
 */
export function classifySlurmFailure(argv: readonly string[], result: CommandResult): SlurmCommandError {
  return matchFailure(argv, result, RULES) ?? new SlurmCommandError(argv, result);
}

// argv may carry a prefix (e.g. `nsenter --net=… scontrol …`): name the Slurm command itself.
const SLURM_COMMANDS = new Set(['scontrol', 'squeue', 'sinfo', 'sbatch', 'scancel', 'srun']);

function slurmCommandName(argv: readonly string[]): string {
  const found = findProgram(argv, SLURM_COMMANDS);
  if (!found) return argv[0] ?? 'slurm command';
  // `scontrol [options] create|update|delete|show …`: name the subcommand
  const sub = argv.slice(found.index + 1).find((a) => !a.startsWith('-'));
  return found.name === 'scontrol' && sub ? `scontrol ${sub}` : found.name;
}
