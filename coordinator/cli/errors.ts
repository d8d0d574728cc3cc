/** Exit codes of the `vonode` CLI. */
export const EXIT = {
  /** Everything asked for succeeded (for `health`: the server is SERVING). */
  ok: 0,
  /** The request was valid but failed (unreachable coordinator, failed deployment, invalid policy …). */
  failure: 1,
  /** The command line was wrong (unknown option, missing argument, no TLS files …). */
  usage: 2,
  /** Interrupted with Ctrl-C while following a stream (128 + SIGINT). */
  interrupted: 130,
} as const;

/** A mistake on the command line; the message says what to pass instead. Exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A failure already explained for the operator: `lines` are printed to stderr
 * as they are (first line prefixed with `vonode: `). Exits with `exitCode`.
 */
export class CliFailure extends Error {
  constructor(
    readonly lines: readonly string[],
    readonly exitCode: number = EXIT.failure,
    options?: { cause?: unknown },
  ) {
    super(lines.join('\n'), options);
    this.name = 'CliFailure';
  }
}

/** Type guard for {@link UsageError}. */
export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}

/** Type guard for {@link CliFailure}. */
export function isCliFailure(err: unknown): err is CliFailure {
  return err instanceof CliFailure;
}
