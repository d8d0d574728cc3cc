// The `--json FILE` output every benchmark writes besides its table: plain
// JSON, numbers as numbers (seconds, MB, ratios), never NaN or Infinity (a
// figure that was not measured is null), written so that a reader never sees
// half a file.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from '../../../coordinator/policy/atomic-write.js';

/** A finite number as is; NaN, ±Infinity and undefined (a figure that was not measured) as null. */
export function finiteOrNull(x: number | undefined): number | null {
  return x !== undefined && Number.isFinite(x) ? x : null;
}

/** The path (`a.b[2].c`) of the first non-finite number in `value`, or undefined if there is none. */
function firstNonFinite(value: unknown, at: string, seen: Set<object>): { at: string; value: number } | undefined {
  let v = value;
  // What JSON.stringify would write for objects that serialize themselves (Date...).
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : { at, value: v };
  if (v === null || typeof v !== 'object' || seen.has(v)) return undefined;
  seen.add(v);
  const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((x, i) => [`${at}[${i}]`, x]) : Object.entries(v).map(([k, x]) => [at ? `${at}.${k}` : k, x]);
  for (const [p, x] of entries) {
    const bad = firstNonFinite(x, p, seen);
    if (bad) return bad;
  }
  return undefined;
}

/**
 * Writes `fields` to `file` as pretty JSON (2-space indent, trailing newline):
 * creates the parent directory, writes a temporary file next to it and renames
 * it over `file`, so `file` is either the old content or the whole new one.
 * Throws a RangeError naming the field, before writing anything, if a value is
 * NaN or ±Infinity (JSON has neither: pass finiteOrNull(x) for a figure that
 * may be missing); throws TypeError for an empty file name; rejects with the
 * file-system error if the directory or file cannot be written.
 */
export async function writeBenchJson(file: string, fields: Record<string, unknown>): Promise<void> {
  if (file === '') throw new TypeError('writeBenchJson: empty file name');
  const bad = firstNonFinite(fields, '', new Set());
  if (bad) throw new RangeError(`writeBenchJson(${file}): field "${bad.at}" is ${bad.value}; JSON has no NaN or Infinity (write null for a figure that was not measured)`);
  const text = `${JSON.stringify(fields, null, 2)}\n`;
  const dir = path.dirname(path.resolve(file));
  await mkdir(dir, { recursive: true });
  // The policy's atomic write: temporary file, fsync, rename (a reader never sees half a JSON).
  await writeAtomically(path.resolve(file), text);
}

/**
 * The fields every benchmark's JSON starts with: which benchmark, when it ran,
 * whether it finished, the steps that did not, and the error that stopped it.
 */
export function runOutcome(benchmark: string, startedAt: Date, steps: readonly string[], done: ReadonlySet<string>, failure: unknown): Record<string, unknown> {
  const unfinished = steps.filter((st) => !done.has(st));
  return {
    benchmark,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    complete: failure === undefined && unfinished.length === 0,
    unfinished_steps: unfinished,
    error: failure === undefined ? null : failure instanceof Error ? failure.message : String(failure),
  };
}
