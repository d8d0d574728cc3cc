import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load-yaml.js';
import { createLogger, type Logger } from '../logger.js';
import { formatPreflightProblem, type PreflightProblem } from './preflight.js';

/** What a daemon entry point plugs in. */
/** Longest a daemon that ends on its own may spend shutting down. */
const SELF_EXIT_SHUTDOWN_MS = 1500;

/** A started daemon; `exited` (optional) resolves with an exit code when it must end on its own. */
export interface RunningDaemon {
  shutdown(): Promise<void>;
  exited?: Promise<number>;
}

export interface DaemonSpec<C> {
  /** Program name, for logs and messages. */
  name: string;
  usage: string;
  /** Reads and validates the config file; reads nothing else and writes nothing. Throws ConfigError. */
  load(file: string): Promise<C>;
  /**
   * `--check` after load(): everything else start() would trip on (files it
   * reads, directories it writes, programs it runs, TLS without --insecure),
   * read-only: it creates and changes nothing. Resolves with every problem
   * (empty: start() has what it needs); never throws for a problem it found.
   */
  check?(config: C, options: { insecure: boolean }): Promise<PreflightProblem[]>;
  /** Builds and starts the daemon. Throws ConfigError for a config the daemon cannot use. */
  start(config: C, logger: Logger, insecure: boolean): Promise<RunningDaemon>;
  /** Logged when SIGTERM/SIGINT arrives (what happens to the work in flight). */
  stopping: string;
}

/**
 * The shared life of vonode's daemons: `--config FILE [--insecure] [--check]`
 * (node:util parseArgs is enough for three flags; the admin CLI uses
 * commander), config errors as exit 2 with every field named, a graceful
 * shutdown on SIGTERM/SIGINT, and the exit code. Never returns.
 */
export function runDaemon<C>(spec: DaemonSpec<C>): void {
  main(spec).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${spec.name}: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

async function main<C>(spec: DaemonSpec<C>): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { config: { type: 'string' }, insecure: { type: 'boolean', default: false }, check: { type: 'boolean', default: false }, help: { type: 'boolean' } },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${spec.usage}\n`);
    return 2;
  }
  if (values.help || !values.config) {
    process.stderr.write(spec.usage + '\n');
    return values.help ? 0 : 2;
  }
  const logger = createLogger(spec.name);
  let daemon: RunningDaemon;
  try {
    const config = await spec.load(values.config);
    if (values.check) return await check(spec, config, values.config, values.insecure ?? false);
    daemon = await spec.start(config, logger, values.insecure ?? false);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, spec.stopping);
      daemon.shutdown().then(() => resolve(0), () => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // A daemon ending on its own (a coordinator that lost the leadership) has already stopped acting: its
    // shutdown is only courtesy (closing streams, resigning), bounded so the service manager restarts it soon.
    void daemon.exited?.then((code) => {
      const bound = setTimeout(() => resolve(code), SELF_EXIT_SHUTDOWN_MS);
      daemon.shutdown().finally(() => {
        clearTimeout(bound);
        resolve(code);
      }).catch(() => undefined);
    });
  });
}

/** `--check`: the daemon's own checks after the config loaded; exit 2 listing every problem, or `FILE: OK` and 0. */
async function check<C>(spec: DaemonSpec<C>, config: C, file: string, insecure: boolean): Promise<number> {
  const problems = (await spec.check?.(config, { insecure })) ?? [];
  if (problems.length) {
    const n = problems.length;
    process.stderr.write(`${file}: ${spec.name} would not start, ${n} problem${n === 1 ? '' : 's'}:\n  - ${problems.map(formatPreflightProblem).join('\n  - ')}\n`);
    return 2;
  }
  process.stdout.write(`${file}: OK\n`);
  return 0;
}
