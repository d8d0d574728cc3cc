/** Where the CLI reads its environment and writes its output; a parameter so tests can capture both. */
export interface CliIo {
  /** Writes to standard output (no newline added). */
  out(text: string): void;
  /** Writes to standard error (no newline added). */
  err(text: string): void;
  /** Standard output as a stream, for the live progress bars. */
  stdout: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Whether standard output is a terminal: live bars and colour only then. */
  isTTY: boolean;
  /** Standard error as a stream, for progress bars that must stay off stdout (absent: no such bars). */
  stderr?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Whether standard error is a terminal: bars drawn on `stderr` only then. */
  errIsTTY?: boolean;
  /** Environment variables (VONODE_COORDINATOR, VONODE_TLS_*, NO_COLOR). */
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C: streaming commands stop following and say what continues. */
  signal: AbortSignal;
  /** Wall clock in ms since the epoch (ages in tables). */
  now(): number;
}

/** The real process's I/O; `signal` is aborted by the caller's SIGINT handler. */
export function processIo(signal: AbortSignal): CliIo {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdout: process.stdout,
    isTTY: process.stdout.isTTY === true,
    stderr: process.stderr,
    errIsTTY: process.stderr.isTTY === true,
    env: process.env,
    signal,
    now: () => Date.now(),
  };
}

/** Whether to colour output: only on a terminal, and never with NO_COLOR set (no-color.org). */
export function useColor(io: Pick<CliIo, 'isTTY' | 'env'>): boolean {
  return io.isTTY && !io.env['NO_COLOR'];
}
