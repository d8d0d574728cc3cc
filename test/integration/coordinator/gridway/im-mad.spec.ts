import { expect } from 'chai';
import { repoNode } from '../../../../scripts/testbed/lib/testbed-process.js';
import { spawn } from 'node:child_process';
import { parseAttributes } from '../../../../coordinator/gridway/im-attributes.js';
import { parseReply } from '../../../../coordinator/gridway/im-protocol.js';
import { HostState, OperationState, type CoordinatorEvent } from '../../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { GwdHarness, type ReceivedLine } from '../../../helpers/gwd-harness.js';
import { cleanEnv, ROOT } from '../../../helpers/run-vonode-cli.js';
import { freePort } from '../../../../scripts/testbed/lib/free-port.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';

// The real vonode-gw-im-mad process, driven by a harness that plays gwd's side
// of the IM MAD protocol (DESIGN §6), against a real coordinator and real
// agents (simulated hypervisor) over mutual TLS with the site's `cli` cert.

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function attributes(r: ReceivedLine): Record<string, number | string> {
  return Object.fromEntries(parseAttributes(r.reply.info).map((a) => [a.index === undefined ? a.name : `${a.name}[${a.index}]`, a.value]));
}

/** Deploys one node and returns it with the moment (here, and on the coordinator's clock) its operation SUCCEEDED event arrived. */
async function deployOne(client: CoordinatorClient, vo: string): Promise<{ node: string; seenAtMs: number; eventUnixMs: number }> {
  let done: { node: string; seenAtMs: number; eventUnixMs: number } | undefined;
  for await (const e of client.deployNodes({ vo, count: 1 }) as AsyncIterable<CoordinatorEvent>) {
    const ev = e.event;
    if (ev?.$case === 'operation' && ev.value.state === OperationState.OPERATION_STATE_SUCCEEDED) {
      done = { node: ev.value.node, seenAtMs: performance.now(), eventUnixMs: e.unixMs };
    }
  }
  if (!done) throw new Error(`the deployment of a ${vo} node did not succeed`);
  return done;
}

describe('vonode-gw-im-mad with a real coordinator and agents (gwd harness)', function () {
  this.timeout(180_000);
  // The coordinator waits for the MAD's report to end each deployment's GW phase.
  const site = new TestSite({
    agents: [{ name: 'phys-a' }, { name: 'phys-b' }], poolSize: 4,
    coordinator: { gridway: { waitForMad: true }, deploy: { phaseTimeouts: { GW: '10s' } } },
  });
  let client: CoordinatorClient;
  let gwd: GwdHarness;
  let node = '';
  const upHosts = async (): Promise<true | undefined> =>
    (await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2 ? true : undefined;

  before(async () => {
    await site.start();
    client = site.client();
    await until('2 agents up', upHosts);
    const pki = site.pki;
    const args = `-c 127.0.0.1:${site.coordinatorPort} --ca ${pki}/ca.pem --cert ${pki}/gridway.pem --key ${pki}/gridway-key.pem --lrms sge --timeout 3`;
    gwd = new GwdHarness({ args });
    gwd.start();
  });
  afterEach(() => gwd.assertClean());
  after(async () => {
    await gwd?.stop();
    client?.close();
    await site.stop();
  });

  it('answers INIT with SUCCESS, first', async () => {
    expect((await gwd.init()).line).to.equal('INIT - SUCCESS -');
  });

  it('answers DISCOVER with no node as SUCCESS without any host (no "-")', async () => {
    expect((await gwd.discover()).line).to.equal('DISCOVER - SUCCESS');
  });

  it('pushes an unsolicited DISCOVER - SUCCESS <node> when a node is deployed; GW ends when gwd holds its free slots', async () => {
    const since = performance.now();
    const deploying = deployOne(client, 'bio');
    const push = await gwd.waitForPush('vwn-001', 20_000, since);
    node = 'vwn-001';
    expect(push.line).to.equal(`DISCOVER - SUCCESS ${node}`);
    expect(gwd.hosts.has(node), 'gwd added it to its host pool').to.equal(true);
    // A new host: gwd MONITORs it on its next IM pass; that answer (free slots) ends GW.
    await new Promise((r) => setTimeout(r, 300));
    expect(attributes(await gwd.monitor(node))).to.include({ 'QUEUE_FREENODECOUNT[0]': 1 });
    const deployed = await deploying;
    expect(deployed.node).to.equal(node);
    const { operations } = await client.timings(0);
    const gw = operations.find((o) => o.operation?.node === node)?.phases.find((p) => p.phase === Phase.PHASE_GW);
    expect(gw, 'the GW phase ended with the MAD\'s report').to.not.equal(undefined);
    expect(gw!.durationMs, 'GW lasted until the MONITOR answer, past the push').to.be.at.least(250);
    console.log(`      GW (node up -> gwd holds its free slots): ${gw!.durationMs.toFixed(1)} ms`);
  });

  it('answers MONITOR of the node with valid attributes: LRMS_NAME, QUEUE_NAME[0], one free node', async () => {
    const r = await gwd.monitor(node);
    expect(r.reply).to.include({ action: 'MONITOR', hid: String(gwd.hidOf(node)), result: 'SUCCESS' });
    expect(attributes(r)).to.include({
      HOSTNAME: node, ARCH: 'x86_64', OS_NAME: 'Linux', NODECOUNT: 1, CPU_SMP: 1, SIZE_MEM_MB: 64, FREE_MEM_MB: 64,
      LRMS_NAME: 'vonode:bio', LRMS_TYPE: 'sge', 'QUEUE_NAME[0]': 'bio.q', 'QUEUE_NODECOUNT[0]': 1, 'QUEUE_FREENODECOUNT[0]': 1,
      'QUEUE_STATUS[0]': 'Production', VONODE_VO: 'bio',
    });
  });

  it('lists the running node in DISCOVER', async () => {
    expect((await gwd.discover()).line).to.equal(`DISCOVER - SUCCESS ${node}`);
  });

  it('answers malformed lines with a FAILURE of their action when it can be told, and keeps going', async () => {
    const hid = String(gwd.hidOf(node));
    await gwd.send('HELLO - - -');
    await gwd.send('MONITOR x vwn-001 -');
    await gwd.send('');
    expect((await gwd.send('DISCOVER a b c', { action: 'DISCOVER' }))!.reply.result).to.equal('FAILURE');
    expect((await gwd.send(`MONITOR ${hid} ${node}`, { action: 'MONITOR', hid }))!.reply).to.include({ hid, result: 'FAILURE' });
    expect((await gwd.send('FINALIZE x - -', { action: 'FINALIZE' }))!.reply.result).to.equal('FAILURE');
    expect((await gwd.discover()).line, 'still answering').to.equal(`DISCOVER - SUCCESS ${node}`);
    expect((await gwd.monitor(node)).reply.result).to.equal('SUCCESS');
  });

  it('answers MONITOR of a host that is no vonode node with FAILURE', async () => {
    const r = await gwd.monitor('grid-ce-01');
    expect(r.reply.result).to.equal('FAILURE');
    expect(r.reply.info).to.match(/not a vonode node/);
  });

  it('reports a removed node (gwd never forgets a host) with no free node', async () => {
    for await (const _ of client.removeNode(node)) void _;
    const m = attributes(await gwd.monitor(node));
    expect(m).to.include({ HOSTNAME: node, LRMS_NAME: 'vonode:bio', 'QUEUE_NAME[0]': 'bio.q', 'QUEUE_FREENODECOUNT[0]': 0, 'QUEUE_NODECOUNT[0]': 0, NODECOUNT: 0, FREE_MEM_MB: 0 });
    expect((await gwd.discover()).line, 'no running node').to.equal('DISCOVER - SUCCESS');
  });

  it('pushes the attributes of a redeployed (reused) hostname to the id gwd gave it, at once: no wait for the monitoring interval', async () => {
    const since = performance.now();
    const deploying = deployOne(client, 'bio');
    const push = await gwd.waitForPush(node, 20_000, since);
    expect(push.reply).to.include({ action: 'MONITOR', hid: String(gwd.hidOf(node)), result: 'SUCCESS' });
    expect(attributes(push)).to.include({ HOSTNAME: node, 'QUEUE_FREENODECOUNT[0]': 1, 'QUEUE_STATUS[0]': 'Production' });
    const deployed = await deploying;
    expect(deployed.node).to.equal(node);
    const op = (await client.timings(0)).operations.filter((o) => o.operation?.node === node).at(-1);
    expect(op?.phases.find((p) => p.phase === Phase.PHASE_GW), 'GW ended at the pushed MONITOR').to.not.equal(undefined);
    // And its removal is pushed the same way: no free node, at once.
    const leaving = performance.now();
    for await (const _ of client.removeNode(node)) void _;
    const gone = await gwd.waitForPush(node, 10_000, leaving);
    expect(attributes(gone)).to.include({ 'QUEUE_FREENODECOUNT[0]': 0 });
  });

  it('answers FAILURE (never silence) while the coordinator is down, and succeeds and pushes again once it is back', async () => {
    await site.kill(site.coordinatorProc);
    const d = await gwd.discover();
    expect(d.reply.result).to.equal('FAILURE');
    expect(d.reply.info).to.match(/coordinator unavailable/);
    expect((await gwd.monitor(node)).reply.result).to.equal('FAILURE');
    await site.startCoordinator();
    await until('DISCOVER answered SUCCESS again', async () => ((await gwd.discover()).reply.result === 'SUCCESS' ? true : undefined));
    expect(attributes(await gwd.monitor(node))).to.include({ 'QUEUE_FREENODECOUNT[0]': 0 });
    await until('2 agents registered again', upHosts);
    const since = performance.now();
    const again = await deployOne(client, 'fusion');
    const push = await gwd.waitForPush(again.node, 15_000, since);
    // A pool hostname gwd already has an id for: its attributes are pushed to that id.
    expect(push.line).to.match(gwd.hosts.has(again.node) ? new RegExp(`^MONITOR ${gwd.hidOf(again.node)} SUCCESS `) : new RegExp(`^DISCOVER - SUCCESS ${again.node}$`));
    const gw = (await client.timings(0)).operations.find((o) => o.operation?.node === again.node)?.phases.find((p) => p.phase === Phase.PHASE_GW);
    console.log(`      GW after the coordinator restart (${again.node}): ${gw ? `${gw.durationMs.toFixed(1)} ms` : 'not reported'}`);
    expect(attributes(await gwd.monitor(again.node))).to.include({ LRMS_NAME: 'vonode:fusion', 'QUEUE_NAME[0]': 'fusion.q', 'QUEUE_FREENODECOUNT[0]': 1 });
  });

  it('answers FINALIZE with SUCCESS and exits 0', async () => {
    const { reply, code } = await gwd.finalize();
    expect(reply.line).to.equal('FINALIZE - SUCCESS -');
    expect(code).to.equal(0);
  });
});

describe('vonode-gw-im-mad without a coordinator', function () {
  this.timeout(60_000);

  it('answers INIT with SUCCESS (it connects lazily), then DISCOVER and MONITOR with FAILURE, and exits 0 on FINALIZE', async () => {
    const gwd = new GwdHarness({ args: `--coordinator 127.0.0.1:${await freePort()} --insecure --timeout 2` });
    gwd.start();
    try {
      expect((await gwd.init()).line).to.equal('INIT - SUCCESS -');
      expect((await gwd.discover()).reply.result).to.equal('FAILURE');
      expect((await gwd.monitor('vwn-001')).reply.result).to.equal('FAILURE');
      const { reply, code } = await gwd.finalize();
      expect([reply.line, code]).to.deep.equal(['FINALIZE - SUCCESS -', 0]);
      gwd.assertClean();
    } finally {
      await gwd.stop();
    }
  });

  it('answers INIT with FAILURE for a wrong command line (gwd then stops) and exits 2', async () => {
    const proc = spawn(repoNode('coordinator/gridway/main.ts')[0]!, repoNode('coordinator/gridway/main.ts', ['--insecure --lrms']).slice(1), { cwd: ROOT, env: cleanEnv() });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stdin.end('INIT - - -\n');
    const code = await new Promise<number | null>((r) => proc.once('close', r));
    expect(code).to.equal(2);
    const lines = out.split('\n').filter(Boolean);
    expect(lines).to.have.length(1);
    expect(parseReply(lines[0]!)).to.include({ action: 'INIT', result: 'FAILURE' });
    expect(lines[0]).to.match(/--lrms/);
  });
});
