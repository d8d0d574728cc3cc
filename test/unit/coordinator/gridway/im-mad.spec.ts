import { expect } from 'chai';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { ImMad, type ImMadEnd } from '../../../../coordinator/gridway/im-mad.js';
import type { SiteReader } from '../../../../coordinator/gridway/site-reader.js';
import { NodeState, type CoordinatorEvent, type Host, type Node } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { silentLogger } from '../../../../shared/logger.js';
import { CoordinatorCallError } from '../../../../shared/rpc/coordinator-client.js';

// ImMad over pipes with a fake coordinator: the timing hazards that a real
// coordinator cannot be made to show on demand (a hung call, a first
// DISCOVER failing while nodes come up later, FINALIZE with answers pending).

const node = (hostname: string, state = NodeState.NODE_STATE_RUNNING): Node => ({
  hostname, ip: '10.0.0.1', mac: '52:54:00:00:00:01', vo: 'bio', host: 'phys-a', state, operationId: 'op', sinceUnixMs: 0, error: '',
});

/** A coordinator that can be down (UNAVAILABLE), hung (never answers) or up, with a controllable event stream. */
class FakeReader implements SiteReader {
  mode: 'up' | 'down' | 'hung' = 'up';
  nodes: Node[] = [];
  private readonly events: CoordinatorEvent[] = [];
  private wake: () => void = () => undefined;

  emit(n: Node): void {
    this.events.push({ unixMs: Date.now(), event: { $case: 'node', value: n } });
    this.wake();
  }
  shown: string[][] = [];
  reportShown(hostnames: readonly string[]): Promise<void> {
    this.shown.push([...hostnames]);
    return Promise.resolve();
  }

  listNodes(): Promise<Node[]> {
    return this.answer(() => this.nodes);
  }
  listHosts(): Promise<Host[]> {
    return this.answer(() => []);
  }
  policyText(): Promise<string> {
    return this.answer(() => '');
  }
  async *watchEvents(signal: AbortSignal): AsyncIterable<CoordinatorEvent> {
    if (this.mode !== 'up') throw new CoordinatorCallError('WatchEvents', 14, 'connection refused');
    while (!signal.aborted) {
      const e = this.events.shift();
      if (e) yield e;
      else await new Promise<void>((r) => ((this.wake = r), signal.addEventListener('abort', () => r(), { once: true })));
    }
  }
  close(): void {}
  private answer<T>(value: () => T): Promise<T> {
    if (this.mode === 'hung') return new Promise(() => undefined);
    if (this.mode === 'down') return Promise.reject(new CoordinatorCallError('ListNodes', 14, 'connection refused'));
    return Promise.resolve(value());
  }
}

describe('coordinator/gridway/ImMad (pipes, fake coordinator)', () => {
  let input: PassThrough;
  let output: PassThrough;
  let reader: FakeReader;
  let mad: ImMad;
  let ended: Promise<ImMadEnd>;
  let lines: string[];
  let waiters: Array<() => void>;

  beforeEach(() => {
    input = new PassThrough();
    output = new PassThrough();
    reader = new FakeReader();
    lines = [];
    waiters = [];
    createInterface({ input: output })
      .on('line', (l) => {
        lines.push(l);
        for (const w of waiters.splice(0)) w();
      })
      .on('error', () => undefined); // the EPIPE test breaks this stream on purpose
    mad = new ImMad({ input, output }, reader, silentLogger(), {
      lrmsType: 'sge', cpuMhz: 0, requestTimeoutMs: 30, watch: { initialBackoffMs: 5, maxBackoffMs: 20, listTimeoutMs: 30 },
    });
    ended = mad.start();
  });
  afterEach(() => mad.shutdown());

  const send = (line: string): boolean => input.write(`${line}\n`);
  async function nextLines(count: number, timeoutMs = 3000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (lines.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} lines, got ${JSON.stringify(lines)}`);
      await new Promise<void>((r) => (waiters.push(r), setTimeout(r, 20)));
    }
    return lines.splice(0, count);
  }

  it('answers INIT at once even when the coordinator hangs', async () => {
    reader.mode = 'hung';
    send('INIT - - -');
    expect(await nextLines(1, 200)).to.deep.equal(['INIT - SUCCESS -']);
  });

  it('answers a hung coordinator with FAILURE after the deadline and its grace, never silence', async () => {
    reader.mode = 'hung';
    send('DISCOVER - - -');
    send('MONITOR 4 vwn-001 -');
    const got = await nextLines(2, 3000);
    expect(got.sort()).to.deep.equal([
      'DISCOVER - FAILURE no answer from the coordinator within 1030 ms',
      'MONITOR 4 FAILURE no answer from the coordinator within 1030 ms',
    ]);
  });

  it('pushes nodes that come up after a first DISCOVER failed (gwd knows none of them)', async () => {
    reader.mode = 'down';
    send('INIT - - -');
    send('DISCOVER - - -');
    expect(await nextLines(2)).to.deep.equal(['INIT - SUCCESS -', 'DISCOVER - FAILURE coordinator unavailable: ListNodes: connection refused']);
    reader.nodes = [node('vwn-001')];
    reader.mode = 'up';
    expect(await nextLines(1), 'pushed at the resync').to.deep.equal(['DISCOVER - SUCCESS vwn-001']);
    reader.emit(node('vwn-002', NodeState.NODE_STATE_DEPLOYING));
    reader.emit(node('vwn-002'));
    expect(await nextLines(1), 'pushed when it becomes running').to.deep.equal(['DISCOVER - SUCCESS vwn-002']);
  });

  it('answers what is pending with FAILURE before FINALIZE - SUCCESS -, then ends', async () => {
    reader.mode = 'hung';
    send('DISCOVER - - -');
    send('MONITOR 7 vwn-001 -');
    send('FINALIZE - - -');
    expect(await nextLines(3)).to.deep.equal([
      'DISCOVER - FAILURE the MAD was finalized before the coordinator answered',
      'MONITOR 7 FAILURE the MAD was finalized before the coordinator answered',
      'FINALIZE - SUCCESS -',
    ]);
    expect(await ended).to.equal('finalize');
  });

  it('ends when gwd closes its stdin', async () => {
    input.end();
    expect(await ended).to.equal('eof');
  });

  it('ends without throwing when gwd closes its stdout (EPIPE)', async () => {
    output.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(await ended).to.equal('output-closed');
    send('DISCOVER - - -');
  });
});
