import type { Command } from 'commander';
import { MAX_DEPLOY_COUNT } from '../../api/request-limits.js';
import { wholeNumber } from '../arg-parsers.js';
import type { CliContext } from '../context.js';
import { followOperations } from '../follow-operations.js';

/** Registers `vonode deploy --vo V [--count N] [--host H]`: queues deployments and follows them. */
export function registerDeployCommand(program: Command, ctx: CliContext): void {
  program
    .command('deploy')
    .description('deploy virtual worker nodes for a VO and follow each one phase by phase')
    .requiredOption('--vo <vo>', 'the VO to deploy for (as named in the policy)')
    .option('--count <n>', `how many nodes, 1 to ${MAX_DEPLOY_COUNT} (default 1; the pool size bounds it too)`, wholeNumber('--count', 1, MAX_DEPLOY_COUNT))
    .option('--host <host>', 'put them on this physical host (default: placement chooses)')
    .addHelpText('after', '\nExits 0 only if every node was deployed. Ctrl-C stops following; the deployments go on.')
    .action(async (opts: { vo: string; count?: number; host?: string }, cmd: Command) => {
      const { client } = ctx.coordinator(cmd);
      const events = client.deployNodes({ vo: opts.vo, count: opts.count ?? 1, host: opts.host ?? '' }, ctx.io.signal);
      ctx.exitCode = await followOperations(ctx, events, 'deploy');
    });
}
