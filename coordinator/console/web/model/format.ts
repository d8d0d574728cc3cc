// Value formatting for the console: the CLI's formatters (the console prints
// seconds, bytes and ages as `vonode` does) and the few a browser page adds.
export { enumLabel, formatAge, formatBytes, formatDuration, formatSeconds, shortId } from '../../../cli/render/format.js';

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Local wall-clock time of a unix-ms stamp, `HH:MM:SS`; `-` when unset (0 or absent). */
export function formatClock(unixMs: number | undefined): string {
  if (!unixMs) return '-';
  const d = new Date(unixMs);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Local date and time of a unix-ms stamp, `YYYY-MM-DD HH:MM:SS`; `-` when unset. */
export function formatDateTime(unixMs: number | undefined): string {
  if (!unixMs) return '-';
  const d = new Date(unixMs);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${formatClock(unixMs)}`;
}

/** The value of an `<input type="datetime-local">` for a unix-ms stamp (local time, minutes). */
export function toDatetimeLocal(unixMs: number): string {
  const d = new Date(unixMs);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** Unix ms of an `<input type="datetime-local">` value (local time); undefined when empty or invalid. */
export function fromDatetimeLocal(value: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0));
  const ms = new Date(y!, mo! - 1, d!, h!, mi!, s!).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** Short phase name of a wire or short name: `PHASE_VMB` → `VMB`, `VMB` → `VMB`. */
export function phaseShort(name: string | undefined): string {
  if (!name) return '-';
  return name.startsWith('PHASE_') ? name.slice('PHASE_'.length) : name;
}

/** Whole percent of part in total, `37%`; `-` when total is 0. */
export function formatPercent(part: number, total: number): string {
  return total > 0 ? `${Math.round((part / total) * 100)}%` : '-';
}

/** A transfer rate in bytes/s as Mbit/s, `85.3 Mbit/s`; `-` when 0. */
export function formatRate(bytesPerSecond: number | undefined): string {
  if (!bytesPerSecond) return '-';
  const mbit = (bytesPerSecond * 8) / 1e6;
  return `${mbit >= 100 ? Math.round(mbit) : mbit.toFixed(1)} Mbit/s`;
}
