import { expect } from 'chai';
import path from 'node:path';
import { TestbedProcess } from '../../../../scripts/testbed/lib/testbed-process.js';
import { tempDir } from '../../../helpers/agent-fakes.js';

// Real, short-lived node processes (process.execPath -e …) with their output in a temp log.
describe('scripts/testbed/testbed-process: TestbedProcess', () => {
  let dir: string;
  const started: TestbedProcess[] = [];

  before(async () => {
    dir = await tempDir('vonode-tbproc-');
  });
  afterEach(async () => {
    // Never leave a child behind, whatever the test did.
    await Promise.all(started.splice(0).map((p) => p.stop(100)));
  });

  function start(label: string, script: string): TestbedProcess {
    const p = new TestbedProcess(label, [process.execPath, '-e', script], path.join(dir, `${label}.log`));
    started.push(p);
    p.start();
    return p;
  }
  const logs = (p: TestbedProcess, text: string) => async () => (await p.logTail()).includes(text);

  it('waits for a line in its log, then stops it with SIGTERM', async () => {
    const p = start('daemon', 'console.log("up"); setInterval(() => {}, 1000)');
    expect(p.running).to.be.true;
    expect(p.pid).to.be.a('number');
    await p.waitUntil('up', logs(p, 'up'), 10_000);
    await p.stop(10_000);
    expect(p.running).to.be.false;
    await p.stop(); // a second stop is a no-op
  });

  it('refuses to start twice', () => {
    const p = start('twice', 'setInterval(() => {}, 1000)');
    expect(() => p.start()).to.throw(/twice was already started/);
  });

  it('rejects waitUntil, naming the label and quoting the log, when the process exits first', async () => {
    const p = start('early-exit', 'console.error("cannot bind port 9"); process.exit(3)');
    const err = await p.waitUntil('listening', async () => false, 10_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(Error);
    const message = (err as Error).message;
    expect(message).to.contain('early-exit');
    expect(message).to.contain('exited (3) before listening');
    expect(message).to.contain('cannot bind port 9');
    expect(p.running).to.be.false;
  });

  it('rejects waitUntil after the timeout while the process still runs', async () => {
    const p = start('slow', 'console.log("still booting"); setInterval(() => {}, 1000)');
    await p.waitUntil('booting', logs(p, 'still booting'), 10_000);
    const err = await p.waitUntil('ready', async () => false, 300).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.match(/^slow not ready after 0\.3 s/).and.to.contain('still booting');
    expect(p.running).to.be.true;
  });

  it('resolves waitUntil with what the probe returned', async () => {
    const p = start('port', 'console.log("port=4711"); setInterval(() => {}, 1000)');
    const port = await p.waitUntil('a port', async () => /port=(\d+)/.exec(await p.logTail())?.[1], 10_000);
    expect(port).to.equal('4711');
  });

  it('stops with the signal it is given (SIGKILL: at once, no grace)', async () => {
    const p = start('crash', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)');
    await p.waitUntil('up', logs(p, 'up'), 10_000);
    const t0 = Date.now();
    await p.stop(60_000, 'SIGKILL');
    expect(Date.now() - t0).to.be.below(5_000);
    expect(p.running).to.be.false;
  });

  it('escalates to SIGKILL after graceMs when SIGTERM is ignored', async () => {
    const p = start('stubborn', 'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("up"); setInterval(() => {}, 1000)');
    await p.waitUntil('up', logs(p, 'up'), 10_000);
    const graceMs = 300;
    const t0 = Date.now();
    await p.stop(graceMs);
    const elapsed = Date.now() - t0;
    expect(p.running).to.be.false;
    // It saw SIGTERM and stayed, so only the SIGKILL after the grace ended it.
    expect(await p.logTail()).to.contain('ignoring SIGTERM');
    expect(elapsed).to.be.at.least(graceMs - 20);
    expect(elapsed).to.be.below(5_000);
  });
});
