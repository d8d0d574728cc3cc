// Small value formatters shared by the tables and the progress display.

/**
 * Seconds as the paper's tables print them: two decimals under 10 s (where
 * the phases that matter, DA/VMB/SR, live), one decimal from 10 s up.
 * Non-finite input prints as `-`.
 */
export function formatSeconds(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  // Round on the ms value (usually whole) rather than with toFixed on seconds, whose binary
  // fractions turn 118.55 s into 118.5; rounding first also makes 9.996 s print as 10.0.
  const hundredths = Math.round(ms / 10);
  if (Math.abs(hundredths) < 1000) return (hundredths / 100).toFixed(2);
  return (Math.round(ms / 100) / 10).toFixed(1);
}

/** Bytes in binary units with one decimal, e.g. `3.5 GiB`; 0 prints as `0 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`;
}

/** How long ago `thenMs` was, compactly (`4s`, `12m`, `3h05m`, `2d04h`); `-` when unset (0). */
export function formatAge(thenMs: number, nowMs: number): string {
  if (!thenMs) return '-';
  return formatDuration(Math.max(0, nowMs - thenMs));
}

/** A duration compactly: `850ms`, `4s`, `12m30s`, `3h05m`, `2d04h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad2(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad2(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad2(h % 24)}h`;
}

/** ISO-8601 UTC time of a unix-ms stamp; `-` when unset (0). */
export function formatTime(unixMs: number): string {
  return unixMs ? new Date(unixMs).toISOString() : '-';
}

/**
 * Lower-case label of a generated enum value: strips the proto prefix from the
 * ts-proto `…ToJSON` name (`HOST_STATE_UP` → `up`); unspecified prints as `-`.
 */
export function enumLabel(jsonName: string, prefix: string): string {
  const label = jsonName.startsWith(prefix) ? jsonName.slice(prefix.length) : jsonName;
  return label === 'UNSPECIFIED' || label === 'UNRECOGNIZED' ? '-' : label.toLowerCase();
}

/** First `n` characters of an id (operation ids, digests), for tables. */
export function shortId(id: string, n = 8): string {
  return id.length > n ? id.slice(0, n) : id || '-';
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
