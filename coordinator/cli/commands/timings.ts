import type { Command } from 'commander';
import { OperationTiming } from '../../../shared/gen/vonode/v1/coordinator.js';
import { wholeNumber } from '../arg-parsers.js';
import type { CliContext } from '../context.js';
import { buildTimingTable, renderTimingTable, timingRows, type TimingKind } from '../render/timing-table.js';

/** NaN (no data) becomes null in JSON rather than disappearing. */
function finiteOrNull(values: Record<string, number>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));
}

/** Registers `vonode timings [--limit N] [--removals]`: the paper's Table 2 (or Table 3) from recorded phases. */
export function registerTimingsCommand(program: Command, ctx: CliContext): void {
  program
    .command('timings')
    .description('phase timings per operation in the layout of the paper\'s Table 2 (deployments) or Table 3 (--removals)')
    .option('--limit <n>', 'only the most recent N operations of any kind (default: all)', wholeNumber('--limit', 1))
    .option('--removals', 'drains and removals (RC VMD DHR DKR …) instead of deployments')
    .option('--json', 'print the operations (OperationTiming JSON) and the mean/median in ms')
    .action(async (opts: { limit?: number; removals?: boolean; json?: boolean }, cmd: Command) => {
      const { client, conn } = ctx.coordinator(cmd);
      const res = await ctx.call(conn, client.timings(opts.limit ?? 0));
      const kind: TimingKind = opts.removals ? 'removal' : 'deploy';
      const table = buildTimingTable(res.operations, kind);
      if (!opts.json) {
        ctx.print(renderTimingTable(table));
        return;
      }
      const ids = new Set(timingRows(res.operations, kind).map((r) => r.operationId));
      ctx.printJson({
        kind,
        operations: res.operations.filter((t) => t.operation && ids.has(t.operation.id)).map((t) => OperationTiming.toJSON(t)),
        statsOver: table.statsOver,
        meanMs: finiteOrNull(table.mean),
        medianMs: finiteOrNull(table.median),
      });
    });
}
