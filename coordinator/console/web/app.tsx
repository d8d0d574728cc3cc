// Entry point of the web console (bundled to /assets/app.js): wires the
// browser's fetch, EventSource and timers into the model and renders the app.
import { render } from 'preact';
import { ApiClient, type FetchLike } from './model/api-client.js';
import type { OpenStream } from './model/live-sync.js';
import { SiteModel } from './model/site-model.js';
import type { Timers } from './model/timers.js';
import { App } from './views/app-shell.js';
import type { Site } from './views/site.js';

const timers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => window.setTimeout(fn, ms),
  clearTimeout: (handle) => window.clearTimeout(handle as number),
  requestFrame: (fn) => void window.requestAnimationFrame(() => fn()),
};

const fetchFn: FetchLike = (url, init) => window.fetch(url, init);

/** The page's one event stream: same origin, so the session cookie or client certificate goes along. */
const openStream: OpenStream = (handlers) => {
  const source = new EventSource('/api/events');
  source.onopen = () => handlers.open();
  source.onmessage = (m: MessageEvent<unknown>) => handlers.message(String(m.data));
  source.onerror = () => handlers.error(source.readyState === EventSource.CLOSED);
  return { close: () => source.close() };
};

const site: Site = { model: new SiteModel(), api: new ApiClient(fetchFn), timers };
const root = document.getElementById('app');
if (root) render(<App site={site} openStream={openStream} reload={() => window.location.reload()} />, root);
