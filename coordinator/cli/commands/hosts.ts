import type { Command } from 'commander';
import { ListHostsResponse } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CliContext } from '../context.js';
import { renderHosts } from '../render/inventory-tables.js';

/** Registers `vonode hosts`: the physical hosts, their agents' state and facts. */
export function registerHostsCommand(program: Command, ctx: CliContext): void {
  program
    .command('hosts')
    .description('physical hosts: agent state, facts, nodes placed, active operation')
    .option('--json', 'print the ListHostsResponse as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { client, conn } = ctx.coordinator(cmd);
      const res = await ctx.call(conn, client.listHosts());
      if (opts.json) ctx.printJson(ListHostsResponse.toJSON(res));
      else ctx.print(renderHosts(res.hosts, ctx.io.now()));
    });
}
