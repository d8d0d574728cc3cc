import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { apelTotals, parseApelMessage, type ApelRecord, type ApelTotals } from '../../../coordinator/accounting/apel-message.js';
import type { SiteTestbed } from './site-testbed.js';
import { until } from './wait.js';

/** One VM life as `vonode accounting --format json` prints it (the fields read here). */
export interface UsageLife {
  id: string;
  vo: string;
  node: string;
  host: string;
  endStatus: string;
  wallMs: number;
}

/**
 * The usage of one period read every way a site reads it: the CLI's four
 * formats, and the messages the coordinator's APEL writer left for the SSM
 * sender. Each total is what that format says, so a caller can check they agree.
 */
export interface UsageCheck {
  period: { sinceMs: number; untilMs: number };
  /** `--format json`: the records and their totals. */
  lives: UsageLife[];
  json: { vms: number; wallMs: number };
  /** `--format csv`: data rows and the sum of their wallMs column. */
  csv: { vms: number; wallMs: number };
  /** `--format table`: the VM rows and the total line (VMs, wall hours as printed, 2 decimals). */
  table: { vms: number; totalVms: number; wallHours: string; text: string };
  /** `--format apel`, parsed back (whole seconds). */
  apelCli: ApelTotals;
  /** The APEL writer's messages in its outgoing directory, parsed back (latest record per VM). */
  apelWritten: ApelTotals & { messages: number; completed: number };
}

/** Every APEL message in a dirq QueueSimple directory (<8 hex>/<14 hex>), parsed. */
async function outgoingRecords(dir: string): Promise<{ messages: number; records: ApelRecord[] }> {
  let messages = 0;
  const records: ApelRecord[] = [];
  for (const sub of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (!/^[0-9a-f]{8}$/.test(sub)) continue;
    for (const name of (await readdir(path.join(dir, sub))).sort()) {
      if (!/^[0-9a-f]{14}$/.test(name)) continue; // a message still being written has a .tmp name
      messages++;
      records.push(...parseApelMessage(await readFile(path.join(dir, sub, name), 'utf8')));
    }
  }
  return { messages, records };
}

/**
 * Reads the usage of [sinceMs, untilMs) through the real CLI in all four
 * formats, then waits (up to `writerWaitMs`) until the APEL writer's
 * messages name `expectedLives` completed VMs: the writer sends a period
 * only once it has ended.
 */
export async function checkUsage(site: SiteTestbed, sinceMs: number, untilMs: number, expectedLives: number, writerWaitMs = 60_000): Promise<UsageCheck> {
  const period = ['--since', new Date(sinceMs).toISOString(), '--until', new Date(untilMs).toISOString()];
  const report = JSON.parse(await site.cli(['accounting', ...period, '--format', 'json'])) as { records?: UsageLife[]; totals?: { vms?: number; wallMs?: number } };
  const lives = report.records ?? [];

  const [header, ...rows] = (await site.cli(['accounting', ...period, '--format', 'csv'])).trimEnd().split('\r\n').map((l) => l.split(','));
  const wallColumn = header!.indexOf('wallMs');

  const text = await site.cli(['accounting', ...period]);
  const total = (text.split('\n').find((l) => l.startsWith('total')) ?? '').trim().split(/\s+/);

  const apelCli = apelTotals(parseApelMessage(await site.cli(['accounting', ...period, '--format', 'apel'])));

  const written = await until('the APEL writer has sent the period of the last removal', async () => {
    const m = await outgoingRecords(site.apelOutgoingDir);
    const completed = m.records.filter((r) => r['Status'] === 'completed').length;
    return completed >= expectedLives ? { ...m, completed } : undefined;
  }, writerWaitMs, 500).catch(async () => {
    const m = await outgoingRecords(site.apelOutgoingDir);
    return { ...m, completed: m.records.filter((r) => r['Status'] === 'completed').length };
  });

  return {
    period: { sinceMs, untilMs },
    lives,
    json: { vms: report.totals?.vms ?? 0, wallMs: report.totals?.wallMs ?? 0 },
    csv: { vms: rows.length, wallMs: rows.reduce((s, r) => s + Number(r[wallColumn]), 0) },
    table: { vms: text.split('\n').filter((l) => /^\S+\s+vwn-/.test(l)).length, totalVms: Number(total[1] ?? 0), wallHours: total[2] ?? '', text },
    apelCli,
    apelWritten: { ...apelTotals(written.records), messages: written.messages, completed: written.completed },
  };
}

/** APEL's whole-second wall time of the JSON lives (each life rounded down, as the records carry it). */
export function apelWallSeconds(lives: readonly UsageLife[]): number {
  return lives.reduce((s, l) => s + Math.floor(l.wallMs / 1000), 0);
}

/** One line of the usage cross-check: what was compared, what it read, whether it agrees. */
export interface UsageAgreement {
  what: string;
  value: string;
  ok: boolean;
}

/**
 * Holds every format against the JSON report: the same lives, the same wall
 * time (CSV exactly, the table in hours as printed, APEL in whole seconds per VM).
 */
export function usageAgreement(u: UsageCheck, expectedLives: number): UsageAgreement[] {
  const wallS = apelWallSeconds(u.lives);
  const hours = (u.json.wallMs / 3_600_000).toFixed(2);
  const sumMs = u.lives.reduce((s, l) => s + l.wallMs, 0);
  return [
    { what: 'VM lives (json)', value: `${u.json.vms} lives, ${(u.json.wallMs / 1000).toFixed(1)} s wall`, ok: u.json.vms === expectedLives && u.lives.length === expectedLives && u.json.wallMs === sumMs },
    { what: 'csv', value: `${u.csv.vms} rows, ${(u.csv.wallMs / 1000).toFixed(1)} s wall`, ok: u.csv.vms === u.json.vms && u.csv.wallMs === u.json.wallMs },
    { what: 'table', value: `${u.table.vms} rows, total ${u.table.totalVms} VMs ${u.table.wallHours} h`, ok: u.table.vms === u.json.vms && u.table.totalVms === u.json.vms && u.table.wallHours === hours },
    { what: 'apel (CLI), parsed back', value: `${u.apelCli.vms} VMs, ${u.apelCli.wallSeconds} s wall`, ok: u.apelCli.vms === u.json.vms && u.apelCli.wallSeconds === wallS },
    {
      what: 'APEL writer outgoing, parsed back',
      value: `${u.apelWritten.messages} messages, ${u.apelWritten.vms} VMs (${u.apelWritten.completed} completed), ${u.apelWritten.wallSeconds} s wall`,
      ok: u.apelWritten.vms === u.json.vms && u.apelWritten.completed >= u.json.vms && u.apelWritten.wallSeconds === wallS && u.apelWritten.cpuSeconds === u.apelCli.cpuSeconds,
    },
  ];
}
