// console-scale's driver of one web console tab (puppeteer-core): log in
// through the login form, move between views, read the page probe, and time
// what a user waits for (an API fetch from the page, the VO filter, a view's
// render), each bounded in time.
import type { Browser, Page } from 'puppeteer-core';
import { errorMessage } from '../../../shared/errors.js';
import { PAGE_PROBE, type PageGlobals, type ProbeState } from './console-page-probe.js';
import { within } from './site-probes.js';

/** What a ConsolePage needs from the run: its time limits and its log (plain functions: they are called unbound). */
export interface PageWaits {
  /** At most `ms`, and never past the run's overall deadline. */
  capped: (ms: number) => number;
  log: (line: string) => void;
}

/** One console tab with PAGE_PROBE installed. */
export class ConsolePage {
  constructor(
    readonly page: Page,
    private readonly waits: PageWaits,
  ) {}

  /** A new tab with PAGE_PROBE, logged in through the login form, at the overview with its stream live. Throws after 60 s. */
  static async open(b: Browser, base: string, token: string, waits: PageWaits): Promise<ConsolePage> {
    const page = await b.newPage();
    page.setDefaultTimeout(waits.capped(60_000));
    await page.evaluateOnNewDocument(PAGE_PROBE);
    await page.goto(`${base}/#/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('[data-testid="login-form"]');
    await page.type('[data-testid="login-token"]', token);
    await page.click('[data-testid="login-submit"]'); // the app reloads itself with the session cookie
    await page.waitForSelector('[data-testid="vo-row-bio"]');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('[data-testid="live-state"]')?.textContent === 'live');
    waits.log('console open and live at the overview');
    return new ConsolePage(page, waits);
  }

  /** Navigates within the app (hash route) and waits for `selector`. */
  async show(hash: string, selector: string): Promise<void> {
    await this.page.evaluate((h) => void ((globalThis as unknown as PageGlobals).location.hash = h), hash);
    await this.page.waitForSelector(selector, { timeout: this.waits.capped(30_000) });
  }

  /** Waits until the nodes view shows `count` nodes in total; resolves false (and logs) if it does not within `ms`. */
  async waitShown(count: number, ms: number): Promise<boolean> {
    return this.page.waitForFunction((n) => {
      const text = (globalThis as unknown as PageGlobals).document.querySelector('[data-testid="node-page-info"]')?.textContent ?? '';
      return n === 0 ? text.startsWith('0 nodes') : text.endsWith(`of ${n}`);
    }, { timeout: this.waits.capped(ms), polling: 'raf' }, count).then(() => true, (e: unknown) => (this.waits.log(`the page did not show ${count} nodes: ${errorMessage(e)}`), false));
  }

  /** What PAGE_PROBE has collected so far; throws if it is missing or the page does not answer in 30 s. */
  async readProbe(): Promise<ProbeState> {
    const state = await within(this.waits.capped(30_000), 'reading the page probe', this.page.evaluate(() => (globalThis as unknown as PageGlobals).__consoleBench));
    if (!state) throw new Error('the page probe is missing (evaluateOnNewDocument did not run)');
    return state;
  }

  /** GET `apiPath` from inside the page (its session cookie): ms to the whole body, and its bytes. Throws on a non-200 answer. */
  async fetchTiming(apiPath: string): Promise<{ ms: number; bytes: number }> {
    const r = await within(this.waits.capped(60_000), `GET ${apiPath}`, this.page.evaluate(async (p) => {
      const t0 = performance.now();
      const res = await fetch(p, { credentials: 'same-origin' });
      const body = await res.text();
      return { status: res.status, ms: performance.now() - t0, bytes: Number(res.headers.get('content-length') ?? body.length) };
    }, apiPath));
    if (r.status !== 200) throw new Error(`GET ${apiPath} from the page: HTTP ${r.status}`);
    return r;
  }

  /** Sets the VO select as a user would (change event) and times, in the page, until a frame shows `expected` nodes; NaN after 30 s. */
  async selectVo(vo: string, expected: number): Promise<number> {
    const ms = await within(this.waits.capped(40_000), `VO filter ${vo || 'all'}`, this.page.evaluate(async (v, n) => {
      const g = globalThis as unknown as PageGlobals;
      const select = g.document.querySelector('[data-testid="node-filter-vo"]');
      if (!select) return -1;
      const t0 = performance.now();
      select.value = v;
      select.dispatchEvent(new g.Event('change', { bubbles: true }));
      while (performance.now() - t0 < 30_000) {
        await new Promise((r) => g.requestAnimationFrame(() => r(undefined)));
        if ((g.document.querySelector('[data-testid="node-page-info"]')?.textContent ?? '').endsWith(`of ${n}`)) return performance.now() - t0;
      }
      return -1;
    }, vo, expected));
    if (ms < 0) this.waits.log(`the nodes view did not show ${expected} nodes for VO "${vo}" within 30 s`);
    return ms < 0 ? NaN : ms;
  }

  /** Hash change → the first frame with `rows` elements matching `selector` (ms, NaN after 30 s). */
  async timeView(hash: string, selector: string, rows: number): Promise<number> {
    const ms = await within(this.waits.capped(40_000), `view ${hash}`, this.page.evaluate(async (h, s, n) => {
      const g = globalThis as unknown as PageGlobals & { document: { querySelectorAll(sel: string): { length: number } } };
      const t0 = performance.now();
      g.location.hash = h;
      while (performance.now() - t0 < 30_000) {
        await new Promise((r) => g.requestAnimationFrame(() => r(undefined)));
        if (g.document.querySelectorAll(s).length >= n) return performance.now() - t0;
      }
      return -1;
    }, hash, selector, rows));
    return ms < 0 ? NaN : ms;
  }
}
