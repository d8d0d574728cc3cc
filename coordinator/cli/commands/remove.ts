import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { followOperations } from '../follow-operations.js';

/** Registers `vonode remove NODE`: removes a node at once, without draining, and follows it. */
export function registerRemoveCommand(program: Command, ctx: CliContext): void {
  program
    .command('remove')
    .description('remove a node now, without draining (its running jobs are lost), and follow it')
    .argument('<node>', 'pool hostname of the node (see `vonode nodes`)')
    .addHelpText('after', '\nPrefer `vonode drain` for a node running jobs. Exits 0 only if the node was removed.')
    .action(async (node: string, _opts: unknown, cmd: Command) => {
      const { client } = ctx.coordinator(cmd);
      ctx.exitCode = await followOperations(ctx, client.removeNode(node, ctx.io.signal), 'remove');
    });
}
