import { expect } from 'chai';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { hookEvent, type HookEvent, type HookEventName } from '../../../../coordinator/hooks/hook-event.js';
import { HookRunner, type HookRunnerOptions } from '../../../../coordinator/hooks/hook-runner.js';
import { systemClock } from '../../../../shared/clock.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { until } from '../../../helpers/wait.js';

// Real hook executables (sh scripts in a temp dir) run by the real spawner.

interface LogLine {
  level: number;
  msg: string;
  hook?: string;
  event?: string;
  op?: string;
  code?: number | null;
  signal?: string | null;
  durationMs?: number;
  stderr?: string;
  err?: string;
  dropped?: number;
}

const WARN = 40;

function deployed(id: string, node = 'vwn-001'): HookEvent {
  return hookEvent('node_deployed', 'test-site', Date.UTC(2025, 2, 1, 12), {
    node: { hostname: node, ip: '10.1.0.11', mac: '52:54:00:01:00:11', vo: 'bio', host: 'phys-a' },
    operation: { id, kind: 'deploy', state: 'succeeded', attempt: 1, error: '', trigger: 'manual', createdUnixMs: 1, finishedUnixMs: 2 },
  });
}

describe('coordinator/hooks/HookRunner (real processes)', function () {
  this.timeout(20_000);
  let dir = '';
  let logs: LogLine[] = [];
  const runners: HookRunner[] = [];

  /** Writes an executable sh script; `body` may use $DIR for the test's directory. */
  async function script(name: string, body: string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, `#!/bin/sh\nDIR='${dir}'\n${body}\n`);
    await chmod(file, 0o755);
    return file;
  }

  function runner(hooks: Partial<Record<HookEventName, string[]>>, options: Partial<HookRunnerOptions> = {}): HookRunner {
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
    const r = new HookRunner({ hooks, timeoutMs: 5000, maxConcurrent: 4, maxQueued: 100, killGraceMs: 300, clock: systemClock, logger, ...options });
    runners.push(r);
    return r;
  }

  beforeEach(async () => {
    dir = await tempDir('vonode-hooks-');
    logs = [];
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.shutdown(0);
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the hook the event as JSON on stdin, argv [path, event] and a bare environment', async () => {
    const hook = await script('record', 'cat > "$DIR/stdin.json"; printf "%s|%s|%s|%s" "$1" "$#" "$VONODE_HOOK_EVENT" "${VONODE_TLS_KEY:-unset}" > "$DIR/args"');
    const r = runner({ node_deployed: [hook] }, { env: { PATH: '/usr/bin:/bin', VONODE_TLS_KEY: '/secret/key.pem' } });
    const event = deployed('op-1');
    r.fire(event);
    await r.idle();
    expect(JSON.parse(await readFile(path.join(dir, 'stdin.json'), 'utf8'))).to.deep.equal({
      version: 1, event: 'node_deployed', time: '2025-03-01T12:00:00.000Z', unixMs: Date.UTC(2025, 2, 1, 12), site: 'test-site',
      node: { hostname: 'vwn-001', ip: '10.1.0.11', mac: '52:54:00:01:00:11', vo: 'bio', host: 'phys-a' },
      operation: { id: 'op-1', kind: 'deploy', state: 'succeeded', attempt: 1, error: '', trigger: 'manual', createdUnixMs: 1, finishedUnixMs: 2 },
    });
    expect(await readFile(path.join(dir, 'args'), 'utf8')).to.equal('node_deployed|1|node_deployed|unset');
    const line = logs.find((l) => l.msg === 'hook ran');
    expect(line).to.include({ hook, event: 'node_deployed', op: 'op-1', code: 0 });
    expect(line?.durationMs).to.be.a('number');
  });

  it('runs only the hooks of the event fired', async () => {
    const a = await script('a', 'echo a >> "$DIR/ran"');
    const b = await script('b', 'echo b >> "$DIR/ran"');
    const r = runner({ node_deployed: [a], agent_down: [b] });
    r.fire(deployed('op-1'));
    await r.idle();
    expect(await readFile(path.join(dir, 'ran'), 'utf8')).to.equal('a\n');
  });

  it('kills a hook that runs past its timeout (its whole process group), logs it, and runs the next ones', async () => {
    const slow = await script('slow', 'echo started >&2; sleep 30');
    const next = await script('next', 'cat > "$DIR/next.json"');
    const r = runner({ node_deployed: [slow, next] }, { timeoutMs: 300, maxConcurrent: 1 });
    const t0 = Date.now();
    r.fire(deployed('op-1'));
    await r.idle();
    expect(Date.now() - t0).to.be.below(3000, 'the sleep child was killed with its shell');
    const killed = logs.find((l) => l.msg.startsWith('hook ran past hooks.timeout'));
    expect(killed).to.include({ level: WARN, hook: slow, event: 'node_deployed', signal: 'SIGTERM', code: null, stderr: 'started' });
    expect(killed?.durationMs).to.be.within(250, 2500);
    expect(JSON.parse(await readFile(path.join(dir, 'next.json'), 'utf8'))).to.have.nested.property('operation.id', 'op-1');
  });

  it('sends SIGKILL to a hook that ignores SIGTERM', async () => {
    const stubborn = await script('stubborn', "trap '' TERM; sleep 30");
    const r = runner({ node_deployed: [stubborn] }, { timeoutMs: 200, killGraceMs: 200 });
    r.fire(deployed('op-1'));
    await r.idle();
    expect(logs.find((l) => l.msg.startsWith('hook ran past hooks.timeout'))).to.include({ signal: 'SIGKILL' });
  });

  it('logs a failing hook with its exit code and the end of its stderr', async () => {
    const failing = await script('failing', 'cat >/dev/null; echo "cannot reach the CMDB" >&2; exit 3');
    const r = runner({ deployment_failed: [failing] });
    r.fire({ ...deployed('op-9'), event: 'deployment_failed' });
    await r.idle();
    expect(logs.find((l) => l.msg === 'hook failed')).to.include({ level: WARN, hook: failing, event: 'deployment_failed', code: 3, stderr: 'cannot reach the CMDB', op: 'op-9' });
  });

  it('logs a missing or non-executable hook and goes on', async () => {
    const missing = path.join(dir, 'missing');
    const plain = path.join(dir, 'plain');
    await writeFile(plain, '#!/bin/sh\nexit 0\n');
    const ok = await script('ok', 'echo ok > "$DIR/ok"');
    const r = runner({ node_deployed: [missing, plain, ok] }, { maxConcurrent: 1 });
    r.fire(deployed('op-1'));
    await r.idle();
    const notStarted = logs.filter((l) => l.msg.startsWith('hook could not be started'));
    expect(notStarted.map((l) => [l.hook, l.err])).to.deep.equal([[missing, 'ENOENT'], [plain, 'EACCES']]);
    expect(await readFile(path.join(dir, 'ok'), 'utf8')).to.equal('ok\n');
  });

  it('does not mind a hook that exits without reading its input', async () => {
    const quick = await script('quick', 'exit 0');
    const r = runner({ node_deployed: [quick] });
    const big = deployed('op-1');
    big.operation!.error = 'x'.repeat(1_000_000);
    r.fire(big);
    await r.idle();
    expect(logs.find((l) => l.hook === quick)).to.include({ msg: 'hook ran', code: 0 });
  });

  it('runs at most maxConcurrent hooks at once', async () => {
    const timed = await script('timed', 'echo "s $(date +%s%N)" >> "$DIR/marks"; sleep 0.2; echo "e $(date +%s%N)" >> "$DIR/marks"');
    const r = runner({ node_deployed: [timed] }, { maxConcurrent: 2 });
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, r.running)), 5);
    for (let i = 0; i < 6; i++) r.fire(deployed(`op-${i}`));
    expect(r.running).to.equal(2);
    expect(r.queued).to.equal(4);
    await r.idle();
    clearInterval(sampler);
    expect(most).to.equal(2);
    // The processes' own view: never more than two between a start and an end mark.
    const marks = (await readFile(path.join(dir, 'marks'), 'utf8')).trim().split('\n').map((l) => l.split(' ') as ['s' | 'e', string]);
    marks.sort((a, b) => (BigInt(a[1]) < BigInt(b[1]) ? -1 : 1));
    let now = 0;
    let peak = 0;
    for (const [edge] of marks) peak = Math.max(peak, (now += edge === 's' ? 1 : -1));
    expect(marks).to.have.length(12);
    expect(peak).to.equal(2);
  });

  it('drops the oldest waiting run when the queue is full, with a warning', async () => {
    const hook = await script('slowish', 'read -r line; echo "$line" | sed "s/.*\\"id\\":\\"\\([^\\"]*\\)\\".*/\\1/" >> "$DIR/ran"; sleep 0.2');
    const r = runner({ node_deployed: [hook] }, { maxConcurrent: 1, maxQueued: 2 });
    for (let i = 1; i <= 5; i++) r.fire(deployed(`op-${i}`));
    expect(r.queued).to.equal(2);
    expect(r.dropped).to.equal(2);
    await r.idle();
    expect((await readFile(path.join(dir, 'ran'), 'utf8')).trim().split('\n')).to.deep.equal(['op-1', 'op-4', 'op-5']);
    const drops = logs.filter((l) => l.msg.startsWith('hook queue full'));
    expect(drops.map((l) => [l.level, l.op, l.dropped])).to.deep.equal([[WARN, 'op-2', 1], [WARN, 'op-3', 2]]);
  });

  it('counts only runs that must wait against maxQueued', async () => {
    const hooks = await Promise.all(['h1', 'h2', 'h3'].map((n) => script(n, `echo ${n} >> "$DIR/ran"`)));
    const r = runner({ node_deployed: hooks }, { maxConcurrent: 3, maxQueued: 1 });
    r.fire(deployed('op-1'));
    expect(r.dropped).to.equal(0);
    await r.idle();
    expect((await readFile(path.join(dir, 'ran'), 'utf8')).trim().split('\n').sort()).to.deep.equal(['h1', 'h2', 'h3']);
  });

  it('never blocks or throws in fire(), whatever the hooks do', async () => {
    const slow = await script('slow', 'sleep 30');
    const r = runner({ node_deployed: [slow, path.join(dir, 'missing')] }, { timeoutMs: 200, maxConcurrent: 1, maxQueued: 3 });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) r.fire(deployed(`op-${i}`));
    expect(Number(process.hrtime.bigint() - t0) / 1e6).to.be.below(500);
    expect(r.running).to.equal(1);
    expect(r.queued).to.equal(3);
  });

  it('on shutdown drops waiting runs and kills running hooks after the grace period', async () => {
    const slow = await script('slow', 'sleep 30');
    const r = runner({ node_deployed: [slow] }, { maxConcurrent: 1 });
    r.fire(deployed('op-1'));
    r.fire(deployed('op-2'));
    await until('hook running', () => Promise.resolve(r.running === 1 ? true : undefined));
    const t0 = Date.now();
    await r.shutdown(100);
    expect(Date.now() - t0).to.be.below(2000);
    expect(r.state).to.equal('stopped');
    expect(logs.find((l) => l.msg === 'hook killed: the coordinator is stopping')).to.include({ op: 'op-1', signal: 'SIGTERM' });
    expect(logs.filter((l) => l.op === 'op-2' && l.hook)).to.have.length(0);
    r.fire(deployed('op-3'));
    expect(r.queued + r.running).to.equal(0);
  });
});
