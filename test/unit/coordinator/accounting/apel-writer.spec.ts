import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { apelTotals, parseApelMessage } from '../../../../coordinator/accounting/apel-message.js';
import { APEL_SENT_UNTIL_KEY, ApelWriter } from '../../../../coordinator/accounting/apel-writer.js';
import { DirQueueSimple } from '../../../../coordinator/accounting/dirq-queue.js';
import { openSqliteStore } from '../../../../coordinator/store/sqlite/sqlite-backend.js';
import type { StateStore } from '../../../../coordinator/store/state-store.js';
import type { Clock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2025-06-01T00:00:00Z');
const site = { siteName: 'EXAMPLE-SITE', cloudComputeService: 'coord:7080', cloudType: 'vonode' };

/** A clock that only moves when told; sleep() waits for enough advance (or the signal). */
class FakeClock implements Clock {
  private waiters: Array<{ at: number; resolve: () => void }> = [];
  constructor(public now: number) {}
  monotonicMs(): number {
    return this.now;
  }
  nowMs(): number {
    return this.now;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = { at: this.now + ms, resolve };
      this.waiters.push(w);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
  advanceTo(ms: number): void {
    this.now = ms;
    for (const w of this.waiters.filter((x) => x.at <= ms)) w.resolve();
    this.waiters = this.waiters.filter((x) => x.at > ms);
  }
}

/** Every message in the queue directory: [intermediate dir, file name, text], in name order. */
async function queued(dir: string): Promise<Array<[string, string, string]>> {
  const out: Array<[string, string, string]> = [];
  for (const sub of (await readdir(dir)).sort()) {
    for (const name of (await readdir(path.join(dir, sub))).sort()) out.push([sub, name, await readFile(path.join(dir, sub, name), 'utf8')]);
  }
  return out;
}

const start = (n: number, startMs: number) => ({
  id: `op-${n}.1`, vo: 'bio', node: `vwn-00${n}`, host: 'phys-01', imageUrl: 'http://repo/bio.qcow2', imageSha256: 'ab'.repeat(32),
  applianceId: '', vcpus: 2, memoryMb: 1024, startMs, startOperationId: `op-${n}`,
});

describe('coordinator/accounting/apel-writer', () => {
  let store: StateStore;
  let dir: string;
  let clock: FakeClock;
  const writer = (): ApelWriter =>
    new ApelWriter({ store, queue: new DirQueueSimple(dir, () => clock.nowMs()), site, intervalMs: HOUR, clock, logger: silentLogger() });

  beforeEach(async () => {
    dir = path.join(await tempDir('vonode-apel-'), 'outgoing');
    store = openSqliteStore(path.join(await tempDir('vonode-apel-db-'), 'state.db'));
    clock = new FakeClock(T0);
  });
  afterEach(() => store.close());

  it('writes one message per completed period in the dirq QueueSimple layout, remembering the last period in the store', async () => {
    store.startUsage(start(1, T0 + 10 * 60_000)); // runs across the first hour's end
    store.startUsage(start(2, T0 + 20 * 60_000));
    clock.advanceTo(T0 + 30 * 60_000);
    expect(await writer().writeDue(), 'the first hour is not over').to.equal(0);
    store.endUsage('vwn-002', { endMs: T0 + 50 * 60_000, status: 'drained', endOperationId: 'op-9' });
    clock.advanceTo(T0 + HOUR + 5_000);
    expect(await writer().writeDue()).to.equal(2);
    expect(await store.readMeta(APEL_SENT_UNTIL_KEY)).to.equal(String(T0 + HOUR));

    const files = await queued(dir);
    expect(files).to.have.length(1);
    const [sub, name, text] = files[0]!;
    const seconds = Math.floor((T0 + HOUR + 5_000) / 1000);
    expect(sub).to.equal((seconds - (seconds % 60)).toString(16).padStart(8, '0'));
    expect(name).to.match(/^[0-9a-f]{14}$/).and.satisfy((n: string) => n.startsWith(seconds.toString(16)));
    const records = parseApelMessage(text);
    expect(records.map((r) => [r['VMUUID'], r['Status'], r['WallDuration']])).to.deep.equal([
      ['op-1.1', 'started', String(50 * 60)],
      ['op-2.1', 'completed', String(30 * 60)],
    ]);
  });

  it('after a restart goes on from the last period sent: nothing lost, nothing sent twice', async () => {
    store.startUsage(start(1, T0));
    clock.advanceTo(T0 + HOUR);
    expect(await writer().writeDue()).to.equal(1);
    clock.advanceTo(T0 + HOUR + 60_000);
    expect(await writer().writeDue(), 'a new writer (restart) within the same period sends nothing').to.equal(0);
    store.endUsage('vwn-001', { endMs: T0 + 2.5 * HOUR, status: 'removed', endOperationId: 'op-5' });
    clock.advanceTo(T0 + 4 * HOUR + 1);
    expect(await writer().writeDue(), 'the three missed periods go in one message').to.equal(1);
    clock.advanceTo(T0 + 6 * HOUR);
    expect(await writer().writeDue(), 'nothing ran since').to.equal(0);
    expect(await store.readMeta(APEL_SENT_UNTIL_KEY)).to.equal(String(T0 + 6 * HOUR));
    const all = (await queued(dir)).flatMap(([, , text]) => parseApelMessage(text));
    expect(all.map((r) => [r['Status'], r['WallDuration']])).to.deep.equal([['started', '3600'], ['completed', '9000']]);
    expect(apelTotals(all)).to.deep.equal({ vms: 1, wallSeconds: 9000, cpuSeconds: 18000 });
  });

  it('runs on its own once started: wakes after each period ends, stops on shutdown', async () => {
    store.startUsage(start(1, T0 + 1000));
    const w = writer();
    w.start();
    expect(w.state).to.equal('running');
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));
    await settle();
    expect(await queued(dir).catch(() => [])).to.have.length(0);
    clock.advanceTo(T0 + HOUR + 20);
    await settle();
    clock.advanceTo(T0 + 2 * HOUR + 20);
    await settle();
    await w.shutdown();
    expect(w.state).to.equal('stopped');
    expect((await queued(dir)).map(([, , t]) => parseApelMessage(t)[0]?.['WallDuration'])).to.deep.equal(['3599', '7199']);
  });

  it('leaves no temporary file behind, and two messages in one microsecond get different names', async () => {
    const q = new DirQueueSimple(dir, () => T0, () => 7);
    const a = await q.add('one');
    const b = await q.add('two');
    expect(a).to.not.equal(b);
    const files = await queued(dir);
    expect(files.map(([, n]) => n.endsWith('.tmp'))).to.deep.equal([false, false]);
    expect(files.map(([, , t]) => t).sort()).to.deep.equal(['one', 'two']);
  });
});
