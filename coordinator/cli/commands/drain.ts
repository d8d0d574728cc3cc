import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { followOperations } from '../follow-operations.js';

/** Registers `vonode drain NODE`: no new jobs on the node, removed once idle; follows it to the end. */
export function registerDrainCommand(program: Command, ctx: CliContext): void {
  program
    .command('drain')
    .description('drain a node (takes no new jobs; removed once its running jobs end) and follow it')
    .argument('<node>', 'pool hostname of the node (see `vonode nodes`)')
    .addHelpText('after', '\nExits 0 only if the node was drained and removed. Ctrl-C stops following; the drain goes on.')
    .action(async (node: string, _opts: unknown, cmd: Command) => {
      const { client } = ctx.coordinator(cmd);
      ctx.exitCode = await followOperations(ctx, client.drainNode(node, ctx.io.signal), 'drain');
    });
}
