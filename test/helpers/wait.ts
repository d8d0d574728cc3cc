import { until as poll } from '../../scripts/testbed/lib/wait.js';

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns something other than undefined (a probe that
 * throws counts as not yet); throws, naming `what`, after `timeoutMs`.
 * (scripts/testbed/lib/wait.ts `until`, retrying on errors.)
 */
export function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  return poll(what, () => probe().catch(() => undefined), timeoutMs, everyMs);
}

/** Drains an event stream into an array (the stream ends when the server ends it). */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of stream) out.push(e);
  return out;
}
