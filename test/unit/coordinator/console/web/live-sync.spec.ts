import { expect } from 'chai';
import { ApiClient, type FetchLike, type HttpRequestInit } from '../../../../../coordinator/console/web/model/api-client.js';
import type { CoordinatorEventJson } from '../../../../../coordinator/console/web/model/api-types.js';
import { LiveSync, type LiveState, type StreamHandlers } from '../../../../../coordinator/console/web/model/live-sync.js';
import { SiteModel } from '../../../../../coordinator/console/web/model/site-model.js';
import { Throttle } from '../../../../../coordinator/console/web/model/throttle.js';
import type { Timers } from '../../../../../coordinator/console/web/model/timers.js';

/** Timers under the test's control: advance() runs what is due; frames run on flushFrames(). */
class FakeTimers implements Timers {
  nowMs = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  private frames: Array<() => void> = [];
  now = (): number => this.nowMs;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.pending.set(id, { at: this.nowMs + ms, fn });
    return id;
  };
  clearTimeout = (handle: unknown): void => void this.pending.delete(handle as number);
  requestFrame = (fn: () => void): void => void this.frames.push(fn);
  get framesQueued(): number {
    return this.frames.length;
  }
  flushFrames(): void {
    const due = this.frames;
    this.frames = [];
    for (const f of due) f();
  }
  async advance(ms: number): Promise<void> {
    const end = this.nowMs + ms;
    for (;;) {
      const next = [...this.pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.pending.delete(next[0]);
      this.nowMs = next[1].at;
      next[1].fn();
      await settle();
    }
    this.nowMs = end;
    await settle();
  }
}

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A console API answering from a table; records each request path. */
class FakeConsole {
  readonly requests: string[] = [];
  readonly answers = new Map<string, { status: number; body: unknown }>([
    ['/api/whoami', { status: 200, body: { name: 'cli', via: 'certificate', role: 'admin', site: 'test-site', coordinator: 'leader' } }],
    ['/api/status', { status: 200, body: { site: 'test-site', poolTotal: 10, poolFree: 7 } }],
    ['/api/hosts', { status: 200, body: { hosts: [{ name: 'phys01', state: 'HOST_STATE_UP' }] } }],
    ['/api/nodes', { status: 200, body: { nodes: [{ hostname: 'vo-bio-01', state: 'NODE_STATE_RUNNING', vo: 'bio', operationId: 'dep-1' }] } }],
    ['/api/operations', { status: 200, body: { operations: [{ operation: { id: 'dep-1', kind: 'OPERATION_KIND_DEPLOY', state: 'OPERATION_STATE_SUCCEEDED' } }] } }],
  ]);
  readonly fetch: FetchLike = async (url: string, init?: HttpRequestInit) => {
    expect(init?.credentials).to.equal('same-origin');
    const path = url.split('?')[0]!;
    this.requests.push(path);
    const a = this.answers.get(path) ?? { status: 404, body: { error: 'not found' } };
    return { status: a.status, ok: a.status >= 200 && a.status < 300, json: async () => a.body };
  };
  count(path: string): number {
    return this.requests.filter((p) => p === path).length;
  }
}

/** The page's EventSource, one object per open. */
interface FakeStream {
  handlers: StreamHandlers;
  closed: boolean;
}

function harness(options: { statusIntervalMs?: number } = {}) {
  const timers = new FakeTimers();
  const api = new FakeConsole();
  const model = new SiteModel();
  const streams: FakeStream[] = [];
  const states: LiveState[] = [];
  const errors: Array<string | undefined> = [];
  let renders = 0;
  let unauthorized = 0;
  const sync = new LiveSync({
    model,
    api: new ApiClient(api.fetch),
    timers,
    openStream: (handlers) => {
      const s: FakeStream = { handlers, closed: false };
      streams.push(s);
      return { close: () => void (s.closed = true) };
    },
    onRender: () => renders++,
    onState: (s) => states.push(s),
    onUnauthorized: () => unauthorized++,
    onError: (e) => errors.push(e),
    statusIntervalMs: options.statusIntervalMs,
    reopenDelaysMs: [1000, 5000],
  });
  const openStreams = (): FakeStream[] => streams.filter((s) => !s.closed);
  const current = (): FakeStream => streams.at(-1)!;
  const send = (e: CoordinatorEventJson): void => current().handlers.message(JSON.stringify(e));
  return { timers, api, model, streams, openStreams, current, send, states, errors, sync, renders: () => renders, unauthorized: () => unauthorized };
}

const nodeEvent = (i: number, state = 'NODE_STATE_DEPLOYING'): CoordinatorEventJson => ({ unixMs: i, node: { hostname: `vo-bio-${i}`, state, vo: 'bio', operationId: `dep-${i}` } });

describe('coordinator/console/web/model/live-sync', () => {
  it('opens one stream and loads the snapshots once it is open', async () => {
    const h = harness();
    h.sync.start();
    expect(h.streams).to.have.length(1);
    expect(h.states).to.deep.equal(['connecting']);
    expect(h.api.requests).to.deep.equal([], 'nothing is fetched before the stream is open');
    h.current().handlers.open();
    await settle();
    expect(h.states.at(-1)).to.equal('live');
    expect([...h.api.requests].sort()).to.deep.equal(['/api/hosts', '/api/nodes', '/api/operations', '/api/status']);
    expect(h.model.nodes.get('vo-bio-01')?.state).to.equal('NODE_STATE_RUNNING');
    expect(h.model.hosts.has('phys01')).to.equal(true);
    expect(h.model.operations.has('dep-1')).to.equal(true);
    expect(h.model.status?.poolFree).to.equal(7);
    expect(h.errors.at(-1)).to.equal(undefined);
    h.sync.stop();
  });

  it('applies a burst of events at once but renders once per frame', async () => {
    const h = harness();
    h.sync.start();
    h.current().handlers.open();
    await settle();
    h.timers.flushFrames();
    const before = h.renders();
    for (let i = 100; i < 400; i++) h.send(nodeEvent(i));
    h.current().handlers.message('not json'); // ignored, not fatal
    expect(h.model.nodes.size).to.equal(301, 'applied on arrival');
    expect(h.timers.framesQueued).to.equal(1, 'one frame asked for 300 events');
    expect(h.renders()).to.equal(before, 'nothing rendered before the frame');
    h.timers.flushFrames();
    expect(h.renders()).to.equal(before + 1);
    h.send(nodeEvent(500));
    h.timers.flushFrames();
    expect(h.renders()).to.equal(before + 2);
    h.sync.stop();
  });

  it('fetches the status at most once per 2 s while events keep coming, and once more after they stop', async () => {
    const h = harness();
    h.sync.start();
    h.current().handlers.open();
    await settle();
    const base = h.api.count('/api/status');
    // 10 s of events, 20 a second.
    for (let t = 0; t < 200; t++) {
      h.send(nodeEvent(t));
      await h.timers.advance(50);
    }
    const during = h.api.count('/api/status') - base;
    expect(during).to.be.within(5, 6);
    await h.timers.advance(5000);
    const after = h.api.count('/api/status') - base;
    expect(after - during).to.be.at.most(1, 'a trailing fetch picks up the last change, then it stops');
    await h.timers.advance(60_000);
    expect(h.api.count('/api/status') - base).to.equal(after, 'no polling without events');
    expect(h.api.count('/api/nodes')).to.equal(1, 'events never refetch the nodes');
    h.sync.stop();
  });

  it('shows reconnecting on an error and reloads hosts, nodes and status when the stream opens again', async () => {
    const h = harness();
    h.sync.start();
    h.current().handlers.open();
    await settle();
    const loads = (): number[] => ['/api/hosts', '/api/nodes', '/api/status'].map((p) => h.api.count(p));
    const first = loads();
    h.current().handlers.error(false); // the EventSource retries by itself
    expect(h.states.at(-1)).to.equal('reconnecting');
    expect(h.streams).to.have.length(1, 'no second stream while the browser retries');
    // The snapshot changed during the gap.
    h.api.answers.set('/api/nodes', { status: 200, body: { nodes: [{ hostname: 'vo-bio-02', state: 'NODE_STATE_RUNNING' }] } });
    h.current().handlers.open();
    await settle();
    expect(h.states.at(-1)).to.equal('live');
    expect(loads()).to.deep.equal(first.map((n) => n + 1));
    expect([...h.model.nodes.keys()]).to.deep.equal(['vo-bio-02']);
    h.sync.stop();
  });

  it('reopens a stream the server closed after a pause, keeping exactly one open', async () => {
    const h = harness();
    h.sync.start();
    h.current().handlers.open();
    await settle();
    h.current().handlers.error(true);
    await settle();
    expect(h.api.count('/api/whoami')).to.equal(1, 'asks whether the session is still good');
    expect(h.openStreams()).to.have.length(0);
    await h.timers.advance(999);
    expect(h.streams).to.have.length(1);
    await h.timers.advance(1);
    expect(h.streams).to.have.length(2);
    expect(h.openStreams()).to.have.length(1);
    expect(h.states.at(-1)).to.equal('reconnecting');
    h.current().handlers.open();
    await settle();
    expect(h.states.at(-1)).to.equal('live');
    h.sync.stop();
    expect(h.openStreams()).to.have.length(0);
  });

  it('asks for the login form when the session is gone', async () => {
    const h = harness();
    h.sync.start();
    h.current().handlers.open();
    await settle();
    h.api.answers.set('/api/whoami', { status: 401, body: { error: 'session expired' } });
    h.current().handlers.error(true);
    await settle();
    expect(h.unauthorized()).to.equal(1);
    expect(h.states.at(-1)).to.equal('stopped');
    await h.timers.advance(60_000);
    expect(h.streams).to.have.length(1, 'no reopening once logged out');
  });

  it('reports a failed snapshot load and clears the message on the next good one', async () => {
    const h = harness();
    h.api.answers.set('/api/hosts', { status: 503, body: { error: 'store unavailable' } });
    h.sync.start();
    h.current().handlers.open();
    await settle();
    expect(h.errors.at(-1)).to.equal('/api/hosts: store unavailable');
    expect(h.model.nodes.size).to.equal(1, 'the other snapshots still load');
    h.api.answers.delete('/api/hosts');
    h.api.answers.set('/api/hosts', { status: 200, body: { hosts: [] } });
    await h.sync.reload();
    expect(h.errors.at(-1)).to.equal(undefined);
    h.sync.stop();
  });
});

describe('coordinator/console/web/model/throttle', () => {
  it('runs at once after quiet, then at most once per interval, with a trailing run', async () => {
    const timers = new FakeTimers();
    let runs = 0;
    const t = new Throttle(1000, timers, () => void runs++);
    t.poke();
    await timers.advance(0);
    expect(runs).to.equal(1);
    t.poke();
    t.poke();
    await timers.advance(500);
    expect(runs).to.equal(1);
    await timers.advance(500);
    expect(runs).to.equal(2);
    await timers.advance(10_000);
    expect(runs).to.equal(2);
    t.poke();
    t.stop();
    await timers.advance(10_000);
    expect(runs).to.equal(2, 'stopped: the pending run is cancelled');
  });
});

describe('coordinator/console/web/model/api-client', () => {
  it('returns the login error of a 401 and treats 204 as success', async () => {
    const api = new FakeConsole();
    api.answers.set('/api/login', { status: 401, body: { error: 'unknown token' } });
    const client = new ApiClient(api.fetch);
    expect(await client.login('nope')).to.deep.equal({ ok: false, error: 'unknown token' });
    api.answers.set('/api/login', { status: 204, body: null });
    expect(await client.login('good')).to.deep.equal({ ok: true });
  });

  it('answers undefined for an unknown operation and throws UnauthorizedError on 401', async () => {
    const api = new FakeConsole();
    const client = new ApiClient(api.fetch);
    expect(await client.operation('nope')).to.equal(undefined);
    api.answers.set('/api/nodes', { status: 401, body: { error: 'no credentials' } });
    const err = await client.nodes().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(Error).with.property('name', 'UnauthorizedError');
  });
});
