import { expect } from 'chai';
import { request as httpRequest, createServer, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsoleEventStream, type EventStreamLimits } from '../../../../coordinator/console/event-stream.js';
import { EventBus, type EventListener } from '../../../../coordinator/events/event-bus.js';
import { Edge, Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { CoordinatorEvent, NodeState } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { until } from '../../../helpers/wait.js';

const FLUSH_MS = 30;
const PING_MS = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The real bus, counting its live subscriptions (its listener Set is private). */
class CountingBus extends EventBus {
  active = 0;
  override subscribe(listener: EventListener): () => void {
    const off = super.subscribe(listener);
    this.active++;
    let done = false;
    return () => {
      if (!done) this.active--;
      done = true;
      off();
    };
  }
}

const nodeEvent = (i: number): CoordinatorEvent => ({
  unixMs: 1_700_000_000_000 + i,
  event: {
    $case: 'node',
    value: {
      hostname: `vwn-${String(i).padStart(3, '0')}`,
      ip: '',
      mac: '',
      vo: 'bio',
      host: 'phys-a',
      state: NodeState.NODE_STATE_RUNNING,
      operationId: 'op',
      sinceUnixMs: 1,
      error: '',
    },
  },
});

/** A phase event of about `bytes` bytes of JSON (a big details map). */
const bigPhaseEvent = (i: number, bytes: number): CoordinatorEvent => {
  const details: Record<string, string> = {};
  for (let k = 0; k < bytes / 1024; k++) details[`k${k}`] = 'x'.repeat(1010);
  return {
    unixMs: 1_700_000_000_000 + i,
    event: {
      $case: 'phase',
      value: { operationId: `op-${i}`, hostname: 'phys-a', phase: Phase.PHASE_PT, edge: Edge.EDGE_END, monotonicMs: i, unixMs: i, durationMs: 5, details },
    },
  };
};

/** One console stream served over real HTTP on 127.0.0.1, and a client reading it. */
interface Harness {
  bus: CountingBus;
  stream: ConsoleEventStream;
  /** The server's side of the response the stream writes to. */
  serverRes: ServerResponse;
  /** Every reason onClose was called with. */
  reasons: string[];
  req: ClientRequest;
  res: IncomingMessage;
  /** The chunks the client received, in order, with when they arrived. */
  chunks: Array<{ text: string; atMs: number }>;
  startedMs: number;
  text(): string;
  /** The `data:` messages received so far, parsed. */
  messages(): unknown[];
}

describe('coordinator/console/event-stream', function () {
  this.timeout(5000);
  let servers: Server[];
  let harnesses: Harness[];

  beforeEach(() => {
    servers = [];
    harnesses = [];
  });
  afterEach(async () => {
    for (const h of harnesses) {
      h.stream.close('test over');
      h.req.destroy();
    }
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });

  async function open(limits: Partial<EventStreamLimits> = {}): Promise<Harness> {
    const bus = new CountingBus();
    const reasons: string[] = [];
    let stream: ConsoleEventStream | undefined;
    let serverRes: ServerResponse | undefined;
    const server = createServer((_req, res) => {
      serverRes = res;
      stream = new ConsoleEventStream(bus, res, { flushMs: FLUSH_MS, pingMs: PING_MS, maxBufferedBytes: 4 * 1024 * 1024, ...limits }, (why) =>
        reasons.push(why),
      );
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const startedMs = Date.now();
    const chunks: Array<{ text: string; atMs: number }> = [];
    // agent: false: no keep-alive socket left behind to hold the process open.
    const req = httpRequest({ host: '127.0.0.1', port, path: '/api/events', agent: false });
    req.on('error', () => undefined); // the cut-off test destroys the connection from the server side
    const res = await new Promise<IncomingMessage>((resolve) => {
      req.once('response', resolve);
      req.end();
    });
    res.on('error', () => undefined);
    res.on('data', (b: Buffer) => chunks.push({ text: b.toString('utf8'), atMs: Date.now() }));
    const text = (): string => chunks.map((c) => c.text).join('');
    const h: Harness = {
      bus,
      stream: stream!,
      serverRes: serverRes!,
      reasons,
      req,
      res,
      chunks,
      startedMs,
      text,
      messages: () =>
        text()
          .split('\n\n')
          .filter((m) => m.startsWith('data: '))
          .map((m) => JSON.parse(m.slice('data: '.length)) as unknown),
    };
    harnesses.push(h);
    return h;
  }

  it('answers as an event stream whose first bytes set the reconnect delay', async () => {
    const h = await open();
    expect(h.res.statusCode).to.equal(200);
    expect(h.res.headers['content-type']).to.equal('text/event-stream; charset=utf-8');
    expect(h.res.headers['cache-control']).to.equal('no-store');
    expect(h.res.headers['x-accel-buffering']).to.equal('no');
    await until('the first bytes', async () => (h.chunks.length > 0 ? true : undefined), 1000, 5);
    expect(h.text().startsWith('retry: 2000\n')).to.equal(true);
    expect(h.bus.active, 'subscribed to the bus').to.equal(1);
  });

  it('sends 50 events published at once as in-order data messages of their proto3 JSON, in a few writes', async () => {
    const h = await open();
    await until('the preamble', async () => (h.chunks.length > 0 ? true : undefined), 1000, 5);
    const publishedMs = Date.now();
    for (let i = 0; i < 50; i++) h.bus.publish(nodeEvent(i));

    const messages = await until('50 messages', async () => (h.messages().length >= 50 ? h.messages() : undefined), 1000, 5);
    expect(messages).to.have.length(50);
    expect(messages).to.deep.equal(Array.from({ length: 50 }, (_, i) => CoordinatorEvent.toJSON(nodeEvent(i))));
    expect(messages[7]).to.have.nested.property('node.state', 'NODE_STATE_RUNNING');
    expect(messages[7]).to.have.nested.property('node.hostname', 'vwn-007');

    const dataChunks = h.chunks.filter((c) => c.text.includes('data'));
    expect(dataChunks.length, 'one flush, give or take TCP splitting').to.be.greaterThan(0).and.lessThan(10);
    expect(dataChunks[0]!.atMs - publishedMs, 'held back until the flush').to.be.at.least(FLUSH_MS - 10);
  });

  it('writes each flush period\'s events together and later ones in a later write', async () => {
    const h = await open();
    h.bus.publish(nodeEvent(0));
    h.bus.publish(nodeEvent(1));
    await until('the first flush', async () => (h.messages().length >= 2 ? true : undefined), 1000, 5);
    h.bus.publish(nodeEvent(2));
    const messages = await until('the second flush', async () => (h.messages().length >= 3 ? h.messages() : undefined), 1000, 5);
    expect(messages.map((m) => (m as { node: { hostname: string } }).node.hostname)).to.deep.equal(['vwn-000', 'vwn-001', 'vwn-002']);
  });

  it('sends a ": ping" comment every pingMs', async () => {
    const h = await open();
    await until('a ping', async () => (h.text().includes(': ping\n\n') ? true : undefined), 1000, 5);
    const ping = h.chunks.find((c) => c.text.includes(': ping'))!;
    expect(ping.atMs - h.startedMs).to.be.at.least(PING_MS - 20).and.at.most(PING_MS + 400);
    expect(h.messages(), 'a comment is not a message').to.deep.equal([]);
  });

  it('unsubscribes and stops its timers when the client goes away', async () => {
    const h = await open();
    expect(h.bus.active).to.equal(1);
    h.req.destroy();
    await until('onClose', async () => (h.reasons.length > 0 ? true : undefined), 1000, 5);
    expect(h.reasons).to.deep.equal(['client went away']);
    expect(h.bus.active).to.equal(0);
    expect(() => h.bus.publish(nodeEvent(0))).to.not.throw();
    await sleep(FLUSH_MS + 20);
    expect(h.reasons, 'closed once').to.have.length(1);
  });

  it('close() ends the response, drops what is pending, and reports once', async () => {
    const h = await open();
    const ended = new Promise<void>((resolve) => h.res.once('end', resolve));
    h.bus.publish(nodeEvent(0)); // pending: the flush has not run yet
    h.stream.close('coordinator shutting down');
    h.stream.close('again');
    await ended;
    expect(h.reasons).to.deep.equal(['coordinator shutting down']);
    expect(h.bus.active).to.equal(0);
    expect(h.messages()).to.deep.equal([]);
  });

  it('cuts off a client that falls more than maxBufferedBytes behind', async () => {
    const maxBufferedBytes = 64 * 1024;
    const h = await open({ maxBufferedBytes });
    h.res.pause(); // the client stops reading: the kernel buffers fill, then the server's

    let published = 0;
    for (let flush = 0; flush < 60 && h.reasons.length === 0; flush++) {
      for (let i = 0; i < 8; i++) h.bus.publish(bigPhaseEvent(published++, 128 * 1024)); // ~1 MiB per flush
      await sleep(FLUSH_MS + 10);
    }
    expect(h.reasons, `cut off after ${published} events of ~128 KiB`).to.deep.equal([`more than ${maxBufferedBytes} bytes behind`]);
    expect(h.reasons[0]).to.match(/bytes behind/);
    expect(h.bus.active).to.equal(0);
    expect(h.serverRes.destroyed, 'the server dropped the connection').to.equal(true);

    // The client, reading again, gets what the kernel held and then the end of the connection.
    const gone = new Promise<void>((resolve) => h.res.once('close', resolve));
    h.res.resume();
    await gone;
    expect(h.reasons, 'the close that follows does not report again').to.have.length(1);
  });
});
