import type { Command } from 'commander';
import { StatusResponse } from '../../../shared/gen/vonode/v1/coordinator.js';
import { useColor } from '../cli-io.js';
import type { CliContext } from '../context.js';
import { renderStatus } from '../render/status-view.js';

/** Registers `vonode status`: the site summary (hosts, pool, operations, VOs, policy state, and the coordinators of an HA site). */
export function registerStatusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('site summary: hosts, pool, operations, per-VO targets and demand, policy state, coordinators and their store')
    .option('--json', 'print the StatusResponse as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { client, conn } = ctx.coordinator(cmd);
      const status = await ctx.call(conn, client.status());
      // With several coordinators, the one that answered (the cluster section says which is the leader).
      if (opts.json) ctx.printJson(StatusResponse.toJSON(status));
      else ctx.print(renderStatus(status, client.address, { nowMs: ctx.io.now(), color: useColor(ctx.io) }));
    });
}
