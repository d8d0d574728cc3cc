import { readFile } from 'node:fs/promises';

/** One sample of the Prometheus text exposition format. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (comments skipped). */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** A scrape of /metrics with lookups. */
export class MetricsScrape {
  constructor(readonly samples: PromSample[]) {}

  /** Value of the first sample of `name` whose labels include `labels`, or NaN. */
  get(name: string, labels: Record<string, string> = {}): number {
    const s = this.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    return s?.value ?? NaN;
  }
}

/** GETs http://127.0.0.1:PORT/metrics. Throws on a non-200 answer, a network error or no answer within `timeoutMs`. */
export async function scrapeMetrics(port: number, timeoutMs = 10_000): Promise<MetricsScrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  return new MetricsScrape(parsePromText(await res.text()));
}

/** Like scrapeMetrics, but an empty scrape (every lookup NaN) when the coordinator does not answer in time. */
export async function tryScrape(port: number, timeoutMs: number, onError: (e: unknown) => void): Promise<MetricsScrape> {
  try {
    return await scrapeMetrics(port, timeoutMs);
  } catch (e) {
    onError(e);
    return new MetricsScrape([]);
  }
}

/** VmRSS and VmHWM (peak RSS) of a process from /proc, in bytes (NaN when unreadable). */
export async function procMemory(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
