import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_BYTES: Record<string, number> = {
  B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
};

/** Largest duration or size the loaders accept after conversion: beyond it a double no longer counts whole units exactly. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** A converted value, or why the input is refused (the caller adds the field name). */
type Converted = { ok: true; value: number } | { ok: false; reason: string; tooLarge?: true };

/** A number from YAML (which can say .inf and .nan) or a conversion, checked to be a whole, exact, non-negative count. */
function exactCount(input: string | number, raw: number, unit: string): Converted {
  const shown = typeof input === 'string' ? JSON.stringify(input) : String(input);
  if (!Number.isFinite(raw)) return { ok: false, reason: `${shown} is not a finite number of ${unit}` };
  if (raw < 0) return { ok: false, reason: `${shown} is negative` };
  const value = Math.round(raw);
  if (value > MAX_EXACT) return { ok: false, reason: `${shown} is too large (over 2^53 ${unit})`, tooLarge: true };
  return { ok: true, value };
}

function convertDuration(value: string | number): Converted {
  if (typeof value === 'number') return exactCount(value, value, 'ms');
  const m = DURATION.exec(value.trim());
  if (!m?.[1] || !m[2]) return { ok: false, reason: `"${value}" is not a duration like 500ms, 30s, 2m` };
  return exactCount(value, Number(m[1]) * (DURATION_MS[m[2]] ?? NaN), 'ms');
}

function convertSize(value: string | number): Converted {
  if (typeof value === 'number') return exactCount(value, value, 'bytes');
  const m = SIZE.exec(value.trim());
  if (!m?.[1]) return { ok: false, reason: `"${value}" is not a size like 512MiB, 20GiB` };
  return exactCount(value, Number(m[1]) * (SIZE_BYTES[m[2] ?? 'B'] ?? NaN), 'bytes');
}

/**
 * Parses "500ms", "30s", "2m", "1h" (or a number of ms) to whole milliseconds;
 * undefined if malformed, negative, not finite or beyond 2^53 ms.
 */
export function parseDurationMs(value: string | number): number | undefined {
  const r = convertDuration(value);
  return r.ok ? r.value : undefined;
}

/** Parses "20GiB", "512MiB", "1000" (bytes) to bytes; undefined if malformed, negative, not finite or beyond 2^53 bytes. */
export function parseSizeBytes(value: string | number): number | undefined {
  const r = convertSize(value);
  return r.ok ? r.value : undefined;
}

/** A duration in the largest unit of the config syntax that states it exactly ("7d" is not one: 168h). */
export function formatDurationMs(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A size in the largest binary unit that states it exactly. */
export function formatSizeBytes(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const size = SIZE_BYTES[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

/** A string or any number, Infinity and NaN included (z.number() refuses those with a bare "Invalid input"). */
const stringOrNumber = (error: string) => z.custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', { error });

/** zod schema for a duration field ("30s"), output in whole milliseconds (0 to 2^53). */
export const durationMs = stringOrNumber('must be a duration like 500ms, 30s, 2m').transform((v, ctx) => {
  const r = convertDuration(v);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.reason });
    return z.NEVER;
  }
  return r.value;
});

/** zod schema for a size field ("20GiB"), output in whole bytes (0 to 2^53). */
export const sizeBytes = stringOrNumber('must be a size like 512MiB, 20GiB').transform((v, ctx) => {
  const r = convertSize(v);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.reason });
    return z.NEVER;
  }
  return r.value;
});

/** The longest a Node.js timer can wait (2^31 - 1 ms, about 24.8 days); a longer setTimeout fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A converted value checked against [min, max]; every refusal of a number too large states the range. */
function within(convert: (v: string | number) => Converted, min: number, max: number, range: string, typeError: string): z.ZodType<number, string | number> {
  return stringOrNumber(typeError).transform((v, ctx) => {
    const r = convert(v);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.tooLarge ? `${r.reason}: it ${range}` : r.reason });
      return z.NEVER;
    }
    if (r.value < min || r.value > max) {
      ctx.addIssue({ code: 'custom', message: range });
      return z.NEVER;
    }
    return r.value;
  });
}

/**
 * zod schema for a duration field that must lie in [minMs, maxMs], output in
 * ms; the message states the range in config units. A duration that drives a
 * timer must keep maxMs ≤ MAX_TIMER_MS.
 */
export function durationWithin(minMs: number, maxMs: number): z.ZodType<number, string | number> {
  return within(convertDuration, minMs, maxMs, `must be from ${formatDurationMs(minMs)} to ${formatDurationMs(maxMs)}`, 'must be a duration like 500ms, 30s, 2m');
}

/** zod schema for a size field that must lie in [minBytes, maxBytes], output in bytes; `note` ends the range message (e.g. why the limit). */
export function sizeWithin(minBytes: number, maxBytes: number, note = ''): z.ZodType<number, string | number> {
  const range = `must be from ${formatSizeBytes(minBytes)} to ${formatSizeBytes(maxBytes)}${note}`;
  return within(convertSize, minBytes, maxBytes, range, 'must be a size like 512MiB, 20GiB');
}

/** zod schema for a whole-number field in [min, max]; every refusal states the range. */
export function intWithin(min: number, max: number): z.ZodType<number, number> {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}
