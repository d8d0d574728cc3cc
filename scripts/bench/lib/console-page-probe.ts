// The probe console-scale installs in the web console's page, before the app:
// it counts the messages and bytes of the app's own /api/events stream
// (EventSource subclassed: a second stream would double the load), records
// main-thread long tasks (PerformanceObserver 'longtask'), and after every
// change of the DOM (a MutationObserver: it costs nothing while the page is
// idle, unlike a frame loop) reads the node count the nodes view shows
// ("1–100 of N" in node-page-info, whatever the page), keeping each change
// with its wall time (Date.now()). The app changes the DOM in its
// animation-frame render, so the paint follows within that frame.
// Also the types of what the bench's functions see inside the page.

/**
 * Installed with evaluateOnNewDocument, so it runs before the app's script on
 * every document of the tab. Plain browser JavaScript in a string: tsx
 * compiles functions with esbuild's keepNames, whose `__name(...)` calls do
 * not exist in the page, and the project's type-check has no DOM library.
 * `bytes` counts `data: <json>\n\n` as the server frames it (the JSON is ASCII).
 */
export const PAGE_PROBE = `(() => {
  const probe = { longTasks: [], longTaskSupported: false, sse: { messages: 0, bytes: 0, opens: 0, errors: 0 }, shown: [] };
  Object.defineProperty(window, '__consoleBench', { value: probe });
  if ((PerformanceObserver.supportedEntryTypes || []).includes('longtask')) {
    probe.longTaskSupported = true;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longTasks.push([performance.timeOrigin + e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  }
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      this.addEventListener('message', (m) => { probe.sse.messages++; probe.sse.bytes += String(m.data).length + 8; });
      this.addEventListener('open', () => { probe.sse.opens++; });
      this.addEventListener('error', () => { probe.sse.errors++; });
    }
  };
  let last;
  const sample = () => {
    const el = document.querySelector('[data-testid="node-page-info"]');
    const text = el ? el.textContent || '' : null;
    const of = text === null ? null : /of (\\d+)/.exec(text);
    const count = of ? Number(of[1]) : text !== null && /^0 nodes/.test(text) ? 0 : null;
    if (count !== last) { probe.shown.push([Date.now(), count]); last = count; }
  };
  new MutationObserver(sample).observe(document, { childList: true, subtree: true, characterData: true });
})();`;

/** What PAGE_PROBE has collected: [epoch ms, ms] per long task, [epoch ms, count shown or null] per change. */
export interface ProbeState {
  longTasks: Array<[number, number]>;
  longTaskSupported: boolean;
  sse: { messages: number; bytes: number; opens: number; errors: number };
  shown: Array<[number, number | null]>;
}

/** An element as the functions run inside the page use it (no DOM library in the project's type-check). */
export interface PageElement {
  textContent: string | null;
  value?: string;
  dispatchEvent(event: unknown): boolean;
}

/** The page's globals as the functions run inside the page use them (`globalThis as unknown as PageGlobals`). */
export interface PageGlobals {
  __consoleBench?: ProbeState;
  document: { querySelector(selector: string): PageElement | null };
  location: { hash: string };
  requestAnimationFrame(callback: () => void): number;
  Event: new (type: string, init?: { bubbles?: boolean }) => unknown;
}
