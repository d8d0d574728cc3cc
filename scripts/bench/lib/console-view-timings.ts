// console-scale's measurements with every node in place, as a user meets
// them: the page's JS heap, /api/nodes and /api/hosts fetched from the page,
// the nodes view's VO filter, the hosts view's render, and a fresh tab's
// load; each repeated `runs` times where it says so.
import type { Browser } from 'puppeteer-core';
import { errorMessage } from '../../../shared/errors.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { finiteOrNull } from './bench-json.js';
import { mb } from './bench-report.js';
import type { ConsolePage, PageWaits } from './console-page.js';
import { PAGE_PROBE, type PageGlobals } from './console-page-probe.js';
import { list, TARGETS, type ConsoleScaleTable } from './console-scale-table.js';
import { within } from './site-probes.js';

/** Leased nodes in all and per VO: what the nodes view must show. */
export interface NodeCounts {
  total: number;
  byVo: Map<string, number>;
}

/** What the measurements need from the run. */
export interface ViewTimingContext {
  table: ConsoleScaleTable;
  /** Times each repeated figure is measured (--runs). */
  runs: number;
  /** Simulated agents: the hosts view's rows. */
  agents: number;
  waits: PageWaits;
}

/** Leased nodes per VO and in all (ListNodes, at most 30 s before the deadline allows). */
export async function nodeCounts(client: CoordinatorClient, waits: PageWaits): Promise<NodeCounts> {
  const nodes = (await within(waits.capped(30_000), 'ListNodes', client.listNodes())).nodes;
  const byVo = new Map<string, number>();
  for (const n of nodes) byVo.set(n.vo, (byVo.get(n.vo) ?? 0) + 1);
  return { total: nodes.length, byVo };
}

/** Heap, API answers, the VO filter and the hosts view, with every node in place. Throws if a fetch fails or a view never shows. */
export async function afterBurst(ctx: ViewTimingContext, page: ConsolePage, counts: NodeCounts): Promise<void> {
  const { report, json } = ctx.table;
  report.section(`with ${counts.total} nodes and ${ctx.agents} hosts (×${ctx.runs} where repeated)`);
  const cdp = await page.page.createCDPSession();
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.detach();
  const heap = (await page.page.metrics()).JSHeapUsedSize ?? NaN;
  report.add('page JS heap after the burst (after a GC)', mb(heap));
  json['heap_mb'] = finiteOrNull(heap / 1e6);
  const nodesApi: number[] = [];
  const hostsApi: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const n = await page.fetchTiming('/api/nodes');
    const h = await page.fetchTiming('/api/hosts');
    nodesApi.push(n.ms);
    hostsApi.push(h.ms);
    Object.assign(json, { nodes_api_bytes: n.bytes, hosts_api_bytes: h.bytes });
  }
  report.add(`/api/nodes from the page (${mb(json['nodes_api_bytes'] as number)})`, list(nodesApi, 'ms'));
  report.add(`/api/hosts from the page (${mb(json['hosts_api_bytes'] as number)})`, list(hostsApi, 'ms'));
  Object.assign(json, { nodes_api_ms: nodesApi, hosts_api_ms: hostsApi });
  await filterRuns(ctx, page, counts);
  await page.show('#/', '[data-testid="vo-row-bio"]');
  const hostsMs = await page.timeView('#/hosts', '[data-testid^="host-row-"]', ctx.agents);
  report.add(`overview → hosts view showing ${ctx.agents} host rows`, `${hostsMs.toFixed(0)} ms`);
  json['hosts_view_ms'] = finiteOrNull(hostsMs);
}

/** The VO filter of the nodes view, `runs` times (VOs alternating), each back to all VOs between runs. */
async function filterRuns(ctx: ViewTimingContext, page: ConsolePage, counts: NodeCounts): Promise<void> {
  await page.show('#/nodes', '[data-testid="node-filter-vo"]');
  if (!(await page.waitShown(counts.total, 60_000))) throw new Error(`the nodes view never showed all ${counts.total} nodes`);
  const vos = [...counts.byVo.keys()].sort();
  const times: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const vo = vos[i % vos.length]!;
    times.push(await page.selectVo(vo, counts.byVo.get(vo)!));
    await page.selectVo('', counts.total);
  }
  const worst = Math.max(...times);
  ctx.table.report.add('VO filter: select → the frame showing that VO\'s count', list(times, 'ms'), { text: `≤ ${TARGETS.filterMs} ms`, pass: worst <= TARGETS.filterMs });
  ctx.table.json['filter_ms'] = times.map((t) => finiteOrNull(t));
}

/** A fresh tab's load, `runs` times: navigation start → the nodes view shows a row and "of N" (ms since navigation start, in the page). */
export async function pageLoads(ctx: ViewTimingContext, b: Browser, base: string, total: number): Promise<void> {
  const { capped, log } = ctx.waits;
  const loads: number[] = [];
  const nodesFetch: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const tab = await b.newPage();
    try {
      await tab.evaluateOnNewDocument(PAGE_PROBE);
      await tab.goto(`${base}/#/nodes`, { waitUntil: 'domcontentloaded', timeout: capped(60_000) });
      const handle = await tab.waitForFunction((n) => {
        const g = globalThis as unknown as PageGlobals;
        const text = g.document.querySelector('[data-testid="node-page-info"]')?.textContent ?? '';
        return text.endsWith(`of ${n}`) && g.document.querySelector('[data-testid^="node-row-"]') !== null ? performance.now() : 0;
      }, { polling: 'raf', timeout: capped(60_000) }, total);
      loads.push(((await handle.jsonValue()) as number) / 1000);
      nodesFetch.push(await tab.evaluate(() => performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/nodes'))?.duration ?? -1));
    } catch (e) {
      log(`page load ${i + 1}: ${errorMessage(e)}`);
      loads.push(NaN);
    } finally {
      await tab.close();
    }
  }
  ctx.table.report.add(`fresh tab → nodes view with its first row and "of ${total}"`, list(loads, 's'), { text: `≤ ${TARGETS.pageLoadS} s`, pass: loads.every((l) => l <= TARGETS.pageLoadS) });
  ctx.table.report.add('  of it, /api/nodes (Resource Timing)', list(nodesFetch.map((x) => (x < 0 ? NaN : x)), 'ms'));
  ctx.table.json['page_load_s'] = loads.map((l) => finiteOrNull(l));
}
