import { status } from '@grpc/grpc-js';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { connectionCredentials } from '../connection.js';
import { CliFailure, EXIT } from '../errors.js';
import { checkHealth, HealthCallError } from '../health-client.js';

/** Registers `vonode health ADDR`: a grpc.health.v1 Check; exits 0 only if SERVING. */
export function registerHealthCommand(program: Command, ctx: CliContext): void {
  program
    .command('health')
    .description('grpc.health.v1 Check against an agent or the coordinator (same TLS options); exit 0 only if SERVING')
    .argument('<addr>', 'host:port (or unix:/path) of the agent or coordinator')
    .option('--service <name>', 'the service to ask about (default: the whole server), e.g. vonode.v1.AgentService', '')
    .action(async (addr: string, opts: { service: string }, cmd: Command) => {
      const conn = ctx.connection(cmd, addr);
      let serving: string;
      try {
        serving = await checkHealth(conn.address, connectionCredentials(conn), opts.service, conn.timeoutMs);
      } catch (err) {
        if (err instanceof HealthCallError && err.code === status.NOT_FOUND) {
          throw new CliFailure([
            `${addr} has no health status for service "${opts.service}"`,
            'hint: ask about the whole server (no --service), vonode.v1.AgentService or vonode.v1.CoordinatorService',
          ]);
        }
        throw err;
      }
      ctx.io.out(`${serving}\n`);
      ctx.exitCode = serving === 'SERVING' ? EXIT.ok : EXIT.failure;
    });
}
