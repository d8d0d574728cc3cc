import { Command, CommanderError } from 'commander';
import { MAX_TIMEOUT_S, seconds } from './arg-parsers.js';
import type { CliIo } from './cli-io.js';
import { registerAccountingCommand } from './commands/accounting.js';
import { registerDeployCommand } from './commands/deploy.js';
import { registerDrainCommand } from './commands/drain.js';
import { registerEventsCommand } from './commands/events.js';
import { registerGlue2Command } from './commands/glue2.js';
import { registerHealthCommand } from './commands/health.js';
import { registerHostsCommand } from './commands/hosts.js';
import { registerImageManifestCommand } from './commands/image-manifest.js';
import { registerNodesCommand } from './commands/nodes.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerRemoveCommand } from './commands/remove.js';
import { registerStatusCommand } from './commands/status.js';
import { registerTimingsCommand } from './commands/timings.js';
import { DEFAULT_COORDINATOR, DEFAULT_TIMEOUT_S } from './connection.js';
import { CliContext } from './context.js';
import { EXIT, isCliFailure, isUsageError } from './errors.js';
import { describeRpcError, isRpcCallError } from './render/error-message.js';

/** Builds the `vonode` commander program; actions write through `ctx` and set `ctx.exitCode`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('vonode')
    .description('admin CLI of a vonode site: per-VO virtual worker nodes on a grid cluster')
    // Errors become exceptions (runCli maps them to exit codes) and all output goes through ctx.io.
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .showHelpAfterError('(run with --help for usage)')
    .option('--coordinator <addr>', `coordinator host:port, or every coordinator of an HA site as host:port,host:port,... (env VONODE_COORDINATOR; default ${DEFAULT_COORDINATOR})`)
    .option('--ca <file>', 'site CA certificate, PEM (env VONODE_TLS_CA)')
    .option('--cert <file>', "this client's certificate, PEM (env VONODE_TLS_CERT)")
    .option('--key <file>', "this client's private key, PEM (env VONODE_TLS_KEY)")
    .option('--insecure', 'plaintext gRPC, only for a local development server started with --insecure')
    .option('--timeout <seconds>', `deadline of requests and health checks, above 0 and at most ${MAX_TIMEOUT_S} (default ${DEFAULT_TIMEOUT_S})`, seconds('--timeout'))
    .addHelpText(
      'after',
      '\nMutual TLS is required unless --insecure is given. Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted.',
    );
  registerStatusCommand(program, ctx);
  registerHostsCommand(program, ctx);
  registerNodesCommand(program, ctx);
  registerDeployCommand(program, ctx);
  registerDrainCommand(program, ctx);
  registerRemoveCommand(program, ctx);
  registerPolicyCommand(program, ctx);
  registerTimingsCommand(program, ctx);
  registerAccountingCommand(program, ctx);
  registerHealthCommand(program, ctx);
  registerEventsCommand(program, ctx);
  registerGlue2Command(program, ctx);
  registerImageManifestCommand(program, ctx);
  return program;
}

/** Prints an error for the operator and returns the exit code it maps to. */
export function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof CommanderError) {
    // commander has already printed its message (and the help hint); help and --version exit 0.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const write = (lines: readonly string[]): void => ctx.io.err(`vonode: ${lines.join('\n')}\n`);
  if (isUsageError(err)) {
    write([err.message]);
    return EXIT.usage;
  }
  if (isCliFailure(err)) {
    write(err.lines);
    return err.exitCode;
  }
  if (isRpcCallError(err)) {
    if (ctx.io.signal.aborted) return EXIT.interrupted;
    write(describeRpcError(err, ctx.target ?? { what: 'coordinator', address: DEFAULT_COORDINATOR, tls: true }));
    return EXIT.failure;
  }
  write([`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`]);
  return EXIT.failure;
}

/** Runs the CLI on `argv` (without node and script) and resolves with the exit code; never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const ctx = new CliContext(io);
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    return reportError(err, ctx);
  } finally {
    ctx.close();
  }
}
