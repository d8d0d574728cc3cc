import type { UsageRecord, UsageStatus } from '../store/records.js';

/** A half-open accounting period [sinceMs, untilMs) in unix ms. */
export interface UsagePeriod {
  sinceMs: number;
  untilMs: number;
}

/**
 * The part of one VM's life inside a period. Periods are half-open, so a
 * VM running across the boundary of two adjacent periods counts in each
 * for exactly its time inside it: the slices of adjacent periods add up to
 * the slice of their union, nothing lost and nothing counted twice.
 */
export interface UsageSlice {
  record: UsageRecord;
  /** Where the slice begins: max(start, since). */
  fromMs: number;
  /** Where it ends: min(end, until), or min(now, until) while the VM runs. */
  toMs: number;
  /** toMs - fromMs: the VM's wall time inside the period. */
  wallMs: number;
  /** wallMs × vCPUs (allocated CPU time; vonode does not measure the guest's own use). */
  cpuMs: number;
  /** The record's status at the slice's end: 'running' when the VM's life goes on past it. */
  status: UsageStatus;
}

/** Sums over slices. */
export interface UsageTotals {
  /** Distinct VMs (records) with time in the period. */
  vms: number;
  wallMs: number;
  cpuMs: number;
  /** Σ memory × wall time, MiB·ms. */
  memoryMbMs: number;
}

/** Where a record's life ends for accounting at `nowMs`: its end, or now while it runs. */
export function usageEndMs(record: UsageRecord, nowMs: number): number {
  return record.endMs > 0 ? record.endMs : Math.max(record.startMs, nowMs);
}

/**
 * The slice of one record inside `period`, or undefined when none of its
 * life is in it (a zero-length overlap counts as none). A record still
 * running counts up to min(now, until).
 */
export function usageSlice(record: UsageRecord, period: UsagePeriod, nowMs: number): UsageSlice | undefined {
  const end = usageEndMs(record, nowMs);
  const fromMs = Math.max(record.startMs, period.sinceMs);
  const toMs = Math.min(end, period.untilMs);
  if (!(toMs > fromMs)) return undefined;
  const wallMs = toMs - fromMs;
  const endedInside = record.endMs > 0 && record.endMs <= period.untilMs;
  return { record, fromMs, toMs, wallMs, cpuMs: wallMs * record.vcpus, status: endedInside ? record.status : 'running' };
}

/** The slices of `records` inside `period` (optionally of one VO), by start then id. */
export function usageSlices(records: readonly UsageRecord[], period: UsagePeriod, nowMs: number, vo?: string): UsageSlice[] {
  const out: UsageSlice[] = [];
  for (const r of records) {
    if (vo && r.vo !== vo) continue;
    const s = usageSlice(r, period, nowMs);
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.record.startMs - b.record.startMs || (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0));
}

/** Sums of the slices. */
export function usageTotals(slices: readonly UsageSlice[]): UsageTotals {
  const totals: UsageTotals = { vms: 0, wallMs: 0, cpuMs: 0, memoryMbMs: 0 };
  const ids = new Set<string>();
  for (const s of slices) {
    ids.add(s.record.id);
    totals.wallMs += s.wallMs;
    totals.cpuMs += s.cpuMs;
    totals.memoryMbMs += s.wallMs * s.record.memoryMb;
  }
  totals.vms = ids.size;
  return totals;
}

/** Sums per VO, by VO name. */
export function usageTotalsByVo(slices: readonly UsageSlice[]): Map<string, UsageTotals> {
  const byVo = new Map<string, UsageSlice[]>();
  for (const s of slices) byVo.set(s.record.vo, [...(byVo.get(s.record.vo) ?? []), s]);
  return new Map([...byVo.keys()].sort().map((vo) => [vo, usageTotals(byVo.get(vo)!)]));
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * A point in time given on the command line: `now`, a duration ago (`90m`,
 * `24h`, `7d`, `2w`, `1h30m`), or an ISO-8601 date or date-time (a date-time
 * without a zone is UTC). Throws RangeError naming `flag` otherwise.
 */
export function parseTimeArg(flag: string, text: string, nowMs: number): number {
  const t = text.trim();
  if (t === 'now') return nowMs;
  if (/^(\d+(\.\d+)?[smhdw])+$/.test(t)) {
    let ago = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) ago += Number(m[1]) * UNIT_MS[m[2]!]!;
    return nowMs - Math.round(ago);
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(t) || t.length === 10 ? t : `${t}Z`;
    const ms = Date.parse(zoned.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw new RangeError(`${flag} takes an ISO-8601 time (2025-06-01, 2025-06-01T12:00:00Z), a duration ago (24h, 7d, 90m) or now, not "${text}"`);
}

/** Checks a period: since before until, both after the epoch. Throws RangeError. */
export function checkPeriod(period: UsagePeriod): UsagePeriod {
  if (!Number.isFinite(period.sinceMs) || !Number.isFinite(period.untilMs) || period.sinceMs < 0) {
    throw new RangeError(`the period must have finite times after 1970, got ${period.sinceMs}..${period.untilMs}`);
  }
  if (!(period.sinceMs < period.untilMs)) {
    throw new RangeError(`--since (${new Date(period.sinceMs).toISOString()}) must be before --until (${new Date(period.untilMs).toISOString()})`);
  }
  return period;
}
