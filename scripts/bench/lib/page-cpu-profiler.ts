// The CDP CPU profiler on a console page (console-scale --profile): records
// the page during a burst, writes the .cpuprofile, and prints the top self
// time mapped to the console's sources through the bundle's source map
// (dist/console/assets/app.js.map). The profiler costs the page a little.
import { readFile, writeFile } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import path from 'node:path';
import type { Page } from 'puppeteer-core';

/** A running page profile: stopAndPrint ends it and prints its summary. */
export interface PageProfiler {
  stopAndPrint(longTasks: ReadonlyArray<readonly [number, number]>): Promise<void>;
}

/**
 * Starts the CDP profiler on the page. stopAndPrint writes
 * `<dir>/page-burst.cpuprofile` and prints the top self time by console
 * source over the whole profile, and over the samples that fell inside the
 * long tasks given ([epoch ms, ms]; the profile's clock is placed on the wall
 * clock by a reading taken just before it started: a few ms off at most).
 * `bundle` is the built console (dist/console). Throws if CDP or a file fails.
 */
export async function startProfiler(page: Page, dir: string, bundle: string): Promise<PageProfiler> {
  const cdp = await page.createCDPSession();
  await cdp.send('Profiler.enable');
  const wallAtStart = await page.evaluate(() => performance.timeOrigin + performance.now());
  await cdp.send('Profiler.start');
  return {
    stopAndPrint: async (longTasks) => {
      const { profile } = await cdp.send('Profiler.stop');
      await cdp.detach();
      const file = path.join(dir, 'page-burst.cpuprofile');
      await writeFile(file, JSON.stringify(profile));
      const map = new SourceMap(JSON.parse(await readFile(path.join(bundle, 'assets/app.js.map'), 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
      console.log(`\npage CPU profile during the burst (${file}), top self time:`);
      for (const line of topSelf(profile, map, () => true)) console.log(line);
      const inLongTask = (wallMs: number): boolean => longTasks.some(([t, d]) => wallMs >= t && wallMs <= t + d);
      console.log(`\nthe same, samples inside the ${longTasks.length} long tasks only:`);
      for (const line of topSelf(profile, map, (us) => inLongTask(wallAtStart + us / 1000))) console.log(line);
    },
  };
}

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number };
type CdpProfile = { nodes: Array<{ id: number; callFrame: CallFrame }>; samples?: number[]; timeDeltas?: number[] };

/** Top 20 of a CDP profile by self time among the samples `keep` accepts (µs since the profile's start), console frames mapped to their sources. */
function topSelf(profile: CdpProfile, map: SourceMap, keep: (sinceStartUs: number) => boolean): string[] {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  let at = 0;
  (profile.samples ?? []).forEach((id, i) => {
    const dt = profile.timeDeltas?.[i] ?? 0;
    at += dt;
    if (!keep(at)) return;
    const f = frames.get(id);
    total += dt / 1000;
    const key = f ? frameName(f, map) : '(unknown)';
    self.set(key, (self.get(key) ?? 0) + dt / 1000);
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, ms]) => `${ms.toFixed(0).padStart(8)} ms ${((ms / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
}

/** A profile frame as `function  source:line` (console bundle frames through the source map). */
function frameName(f: CallFrame, map: SourceMap): string {
  if (!f.url.endsWith('/assets/app.js')) return `${f.functionName || '(anonymous)'}  ${f.url.replace(/^https?:\/\/[^/]+/, '')}`.trim();
  const e = map.findEntry(f.lineNumber, f.columnNumber);
  if (!('originalSource' in e)) return `${f.functionName || '(anonymous)'}  app.js`;
  return `${(e as { name?: string }).name || f.functionName || '(anonymous)'}  ${e.originalSource.replace(/^.*?(coordinator\/|node_modules\/)/, '$1')}:${e.originalLine + 1}`;
}
