import type { Command } from 'commander';
import { ListNodesResponse } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CliContext } from '../context.js';
import { renderNodes } from '../render/inventory-tables.js';

/** Registers `vonode nodes [--vo V]`: the virtual worker nodes. */
export function registerNodesCommand(program: Command, ctx: CliContext): void {
  program
    .command('nodes')
    .description('virtual worker nodes: VO, state, host, address, current operation')
    .option('--vo <vo>', 'only the nodes of this VO')
    .option('--json', 'print the ListNodesResponse as JSON')
    .action(async (opts: { vo?: string; json?: boolean }, cmd: Command) => {
      const { client, conn } = ctx.coordinator(cmd);
      const res = await ctx.call(conn, client.listNodes(opts.vo ?? ''));
      if (opts.json) ctx.printJson(ListNodesResponse.toJSON(res));
      else ctx.print(renderNodes(res.nodes, ctx.io.now(), opts.vo));
    });
}
