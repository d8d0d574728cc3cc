import { Option, type Command } from 'commander';
import { validateVoName } from '../../../shared/validation.js';
import { apelRecord, formatApelMessage } from '../../accounting/apel-message.js';
import { checkPeriod, parseTimeArg, usageSlices } from '../../accounting/usage-period.js';
import { usageFromWire } from '../../api/wire.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { renderUsageReport, usageReportToCsv, usageReportToJson, type UsageReport } from '../render/usage-report.js';

/** Output formats of `vonode accounting`. */
const FORMATS = ['table', 'json', 'csv', 'apel'] as const;
type UsageFormat = (typeof FORMATS)[number];

/** Options of `vonode accounting`. */
interface AccountingOptions {
  since: string;
  until: string;
  vo?: string;
  format: UsageFormat;
  siteName?: string;
  cloudComputeService?: string;
  cloudType: string;
}

/** A command-line time, or UsageError naming the flag. */
function timeArg(flag: string, text: string, nowMs: number): number {
  try {
    return parseTimeArg(flag, text, nowMs);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Registers `vonode accounting --since T --until T [--vo V] --format
 * table|json|csv|apel`: the VMs' usage in a period, each VM's life cut at
 * the period's bounds. Throws UsageError for bad times or VO names.
 */
export function registerAccountingCommand(program: Command, ctx: CliContext): void {
  program
    .command('accounting')
    .description('usage records of the VMs in a period (VO, node, host, image, vCPUs, memory, start, end, wall time, how it ended); a VM running across a bound counts only its time inside')
    .option('--since <time>', 'period start: ISO-8601 (2025-06-01, 2025-06-01T12:00:00Z), a duration ago (24h, 7d, 90m) or now', '24h')
    .option('--until <time>', 'period end (excluded), as --since', 'now')
    .option('--vo <vo>', 'only the VMs of this VO')
    .addOption(new Option('--format <format>', 'table, json, csv, or apel (an APEL-cloud-message v0.4 for the SSM sender)').choices(FORMATS).default('table'))
    .option('--site-name <name>', 'SiteName of APEL records (default: the coordinator\'s site)')
    .option('--cloud-compute-service <name>', 'CloudComputeService of APEL records (default: the site)')
    .option('--cloud-type <name>', 'CloudType of APEL records', 'vonode')
    .action(async (opts: AccountingOptions, cmd: Command) => {
      const nowMs = ctx.io.now();
      const sinceMs = timeArg('--since', opts.since, nowMs);
      const untilMs = timeArg('--until', opts.until, nowMs);
      try {
        checkPeriod({ sinceMs, untilMs });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (opts.vo) {
        try {
          validateVoName('--vo', opts.vo);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
      const { client, conn } = ctx.coordinator(cmd);
      const res = await ctx.call(conn, client.accounting({ sinceUnixMs: sinceMs, untilUnixMs: untilMs, vo: opts.vo ?? '' }));
      const period = { sinceMs: res.sinceUnixMs, untilMs: res.untilUnixMs };
      const report: UsageReport = {
        site: res.site, period, nowMs: res.nowUnixMs, vo: opts.vo ?? '',
        slices: usageSlices(res.records.map(usageFromWire), period, res.nowUnixMs, opts.vo),
      };
      switch (opts.format) {
        case 'json':
          return ctx.printJson(usageReportToJson(report));
        case 'csv':
          return ctx.io.out(usageReportToCsv(report));
        case 'apel': {
          const site = { siteName: opts.siteName ?? res.site, cloudComputeService: opts.cloudComputeService ?? res.site, cloudType: opts.cloudType };
          return ctx.io.out(formatApelMessage(report.slices.map((s) => apelRecord(s, site))));
        }
        default:
          return ctx.print(renderUsageReport(report));
      }
    });
}
