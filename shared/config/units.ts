import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_BYTES: Record<string, number> = {
  B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
};

/** Parses "500ms", "30s", "2m", "1h" (or a number of ms) to milliseconds; undefined if malformed. */
export function parseDurationMs(value: string | number): number | undefined {
  if (typeof value === 'number') return value >= 0 ? value : undefined;
  const m = DURATION.exec(value.trim());
  return m?.[1] && m[2] ? Number(m[1]) * (DURATION_MS[m[2]] ?? NaN) : undefined;
}

/** Parses "20GiB", "512MiB", "1000" (bytes) to bytes; undefined if malformed. */
export function parseSizeBytes(value: string | number): number | undefined {
  if (typeof value === 'number') return value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  return m?.[1] ? Math.round(Number(m[1]) * (SIZE_BYTES[m[2] ?? 'B'] ?? NaN)) : undefined;
}

/** zod schema for a duration field ("30s"), output in milliseconds. */
export const durationMs = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration like 500ms, 30s, 2m` });
    return z.NEVER;
  }
  return ms;
});

/** zod schema for a size field ("20GiB"), output in bytes. */
export const sizeBytes = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseSizeBytes(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a size like 512MiB, 20GiB` });
    return z.NEVER;
  }
  return bytes;
});
