import { expect } from 'chai';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HOOK_EVENT_NAMES, type HookEvent, type HookEventName } from '../../../../coordinator/hooks/hook-event.js';
import { HostState, OperationState } from '../../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { collect, sleep, until } from '../../../helpers/wait.js';

// Event hooks of a real coordinator process with real agents (SIMULATED hypervisor):
// every hook event fires once, its JSON as documented; a slow and a failing hook
// hold nothing up.

describe('vonode-coordinator event hooks (real processes)', function () {
  this.timeout(120_000);
  let hooksDir = '';
  let outDir = '';
  let site: TestSite;
  let client: CoordinatorClient;

  /** The documents the recording hook received, by event. */
  async function received(): Promise<Map<HookEventName, HookEvent[]>> {
    const byEvent = new Map<HookEventName, HookEvent[]>();
    for (const f of (await readdir(outDir)).sort()) {
      const e = JSON.parse(await readFile(path.join(outDir, f), 'utf8')) as HookEvent;
      byEvent.set(e.event, [...(byEvent.get(e.event) ?? []), e]);
    }
    return byEvent;
  }
  /** Waits for the first document of `event`. */
  const first = (event: HookEventName): Promise<HookEvent> =>
    until(`${event} hook`, async () => (await received()).get(event)?.[0], 20_000);

  before(async () => {
    hooksDir = await tempDir('vonode-hooks-site-');
    outDir = path.join(hooksDir, 'out');
    await mkdir(outDir);
    const script = async (name: string, body: string): Promise<string> => {
      const file = path.join(hooksDir, name);
      await writeFile(file, `#!/bin/sh\n${body}\n`);
      await chmod(file, 0o755);
      return file;
    };
    // One file per run: `$1` is the event, `$$` makes it unique (the coordinator's env is not passed on).
    const record = await script('record', `cat > '${outDir}'/"$(date +%s%N)-$1-$$.json"`);
    const slow = await script('slow', 'sleep 60');
    const failing = await script('failing', 'echo "hook says no" >&2; exit 7');
    const events = Object.fromEntries(HOOK_EVENT_NAMES.map((name) => [name, [record]]));
    site = new TestSite({
      agents: [{ name: 'phys-a' }, { name: 'phys-b' }],
      poolSize: 4,
      policy: (appliance) => ({
        vos: {
          bio: { weight: 1, min: 0, max: 4, queue: 'bio.q', vm: { vcpus: 1, memory: '64MiB' }, appliance },
          // An appliance whose image never verifies: its deployment fails for good at the first attempt.
          broken: { weight: 1, min: 0, max: 4, queue: 'broken.q', vm: { vcpus: 1, memory: '64MiB' }, appliance: { disk: { url: appliance.disk.url, sha256: '00'.repeat(32) } } },
        },
      }),
      coordinator: { hooks: { timeout: '2s', maxConcurrent: 4, events: { ...events, node_deployed: [slow, record], node_running: [failing, record] } } },
    });
    await site.start();
    client = site.client();
    await until('2 agents up', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2 ? true : undefined));
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(site.recentLogs(200));
  });
  after(async () => {
    client?.close();
    await site?.stop();
    await rm(hooksDir, { recursive: true, force: true });
  });

  it('agent_down: an agent that stops heartbeating', async () => {
    const b = site.agents.find((a) => a.name === 'phys-b')!;
    await site.kill(b.proc);
    const e = await first('agent_down');
    expect(Object.keys(e).sort()).to.deep.equal(['event', 'host', 'site', 'time', 'unixMs', 'version']);
    expect(e).to.deep.include({ version: 1, event: 'agent_down', site: 'test-site', host: { name: 'phys-b', address: `127.0.0.1:${b.port}`, lastSeenUnixMs: e.host!.lastSeenUnixMs } });
    expect(e.time).to.equal(new Date(e.unixMs).toISOString());
    expect(e.unixMs - e.host!.lastSeenUnixMs).to.be.within(1000, 10_000, 'after agents.downAfter of silence');
  });

  it('node_running and node_deployed: a deployment (a slow and a failing hook hold nothing up)', async () => {
    const t0 = Date.now();
    const events = await collect(client.deployNodes({ vo: 'bio', count: 1 }));
    const op = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value] : [])).at(-1)!;
    expect(op.state).to.equal(OperationState.OPERATION_STATE_SUCCEEDED);
    expect(Date.now() - t0).to.be.below(15_000);
    const running = await first('node_running');
    const deployed = await first('node_deployed');
    const node = { hostname: op.node, ip: '10.77.0.10', mac: '52:54:00:77:00:10', vo: 'bio', host: 'phys-a' };
    expect(op.node).to.equal('vwn-001');
    expect(running.node).to.deep.equal(node);
    expect(running.operation).to.deep.include({ id: op.id, kind: 'deploy', state: 'running', attempt: 1, error: '', trigger: 'manual', finishedUnixMs: 0 });
    expect(deployed.node).to.deep.equal(node);
    expect(deployed.operation).to.deep.equal({
      id: op.id, kind: 'deploy', state: 'succeeded', attempt: 1, error: '', trigger: 'manual', createdUnixMs: op.createdUnixMs, finishedUnixMs: op.finishedUnixMs,
    });
    expect(Object.keys(deployed).sort()).to.deep.equal(['event', 'node', 'operation', 'site', 'time', 'unixMs', 'version']);
    expect(running.unixMs).to.be.at.most(deployed.unixMs);
    // The slow hook is killed at hooks.timeout, the failing one logged; both in the coordinator's log.
    await until('slow hook killed', () => Promise.resolve(site.recentLogs(2000).includes('"signal":"SIGTERM"') ? true : undefined), 10_000);
    const logs = site.recentLogs(2000);
    expect(logs).to.match(/"hook":"[^"]*\/slow","event":"node_deployed".*"signal":"SIGTERM"/);
    expect(logs).to.match(/"hook":"[^"]*\/failing","event":"node_running".*"code":7.*"stderr":"hook says no"/);
  });

  it('deployment_failed: a deployment given up for good (an image that fails verification)', async () => {
    const events = await collect(client.deployNodes({ vo: 'broken', count: 1 }));
    const op = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value] : [])).at(-1)!;
    expect(op.state).to.equal(OperationState.OPERATION_STATE_FAILED);
    const e = await first('deployment_failed');
    expect(e.node).to.deep.equal({ hostname: op.node, ip: '10.77.0.11', mac: '52:54:00:77:00:11', vo: 'broken', host: 'phys-a' });
    expect(e.operation).to.deep.include({ id: op.id, kind: 'deploy', state: 'failed', attempt: 1, trigger: 'manual' });
    expect(e.operation!.error).to.match(/failed verification/);
  });

  it('drain_started and node_removed: a drain', async () => {
    const events = await collect(client.drainNode('vwn-001'));
    const op = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value] : [])).at(-1)!;
    expect(op.state).to.equal(OperationState.OPERATION_STATE_SUCCEEDED);
    const started = await first('drain_started');
    const removed = await first('node_removed');
    const node = { hostname: 'vwn-001', ip: '10.77.0.10', mac: '52:54:00:77:00:10', vo: 'bio', host: 'phys-a' };
    expect(started.node).to.deep.equal(node);
    expect(started.operation).to.deep.include({ id: op.id, kind: 'drain', state: 'running', attempt: 1 });
    expect(removed.node).to.deep.equal(node);
    expect(removed.operation).to.deep.include({ id: op.id, kind: 'drain', state: 'succeeded', attempt: 1, error: '' });
  });

  it('fired each hook exactly once', async () => {
    await sleep(1000);
    const counts = Object.fromEntries([...(await received())].map(([name, list]) => [name, list.length]));
    expect(counts).to.deep.equal({ agent_down: 1, node_running: 1, node_deployed: 1, deployment_failed: 1, drain_started: 1, node_removed: 1 });
  });
});
