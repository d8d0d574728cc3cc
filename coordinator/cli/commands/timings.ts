import type { Command } from 'commander';
import { OperationTiming } from '../../../shared/gen/vonode/v1/coordinator.js';
import { MAX_TIMINGS_LIMIT } from '../../api/request-limits.js';
import { wholeNumber } from '../arg-parsers.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { buildLayerSummary, layerSummaryToJson, renderLayerSummary } from '../render/layer-summary.js';
import { buildTimingTable, renderTimingTable, timingRows, type TimingKind } from '../render/timing-table.js';

/** NaN (no data) becomes null in JSON rather than disappearing. */
function finiteOrNull(values: Record<string, number>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));
}

/** Options of `vonode timings`. */
interface TimingsOptions {
  limit?: number;
  removals?: boolean;
  layers?: boolean;
  json?: boolean;
}

/** Prints the Fig. 3 layer view of the deployments (text or JSON). */
function printLayers(ctx: CliContext, operations: readonly OperationTiming[], json: boolean): void {
  const summary = buildLayerSummary(operations);
  if (json) ctx.printJson(layerSummaryToJson(summary));
  else ctx.print(renderLayerSummary(summary));
}

/**
 * Registers `vonode timings [--limit N] [--removals | --layers]`: the paper's
 * Table 2 (or Table 3, or the per-layer Fig. 3) from recorded phases. The
 * action throws UsageError for --layers with --removals.
 */
export function registerTimingsCommand(program: Command, ctx: CliContext): void {
  program
    .command('timings')
    .description('phase timings per operation in the layout of the paper\'s Table 2 (deployments), Table 3 (--removals) or per layer as in Fig. 3 (--layers)')
    .option('--limit <n>', `only the most recent N operations of any kind, 1 to ${MAX_TIMINGS_LIMIT} (default: all)`, wholeNumber('--limit', 1, MAX_TIMINGS_LIMIT))
    .option('--removals', 'drains and removals (RC VMD DHR DKR …) instead of deployments')
    .option('--layers', 'succeeded deployments per layer as in the paper\'s Fig. 3 (machine, batch system, information system, meta-scheduler) next to its figures')
    .option('--json', 'print the operations (OperationTiming JSON) and the mean/median in ms; with --layers, the per-layer mean/median in ms')
    .action(async (opts: TimingsOptions, cmd: Command) => {
      if (opts.layers && opts.removals) throw new UsageError('--layers covers deployments only: drop --removals (or --layers)');
      const { client, conn } = ctx.coordinator(cmd);
      const res = await ctx.call(conn, client.timings(opts.limit ?? 0));
      if (opts.layers) return printLayers(ctx, res.operations, opts.json ?? false);
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
