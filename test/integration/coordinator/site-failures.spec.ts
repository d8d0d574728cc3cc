import { expect } from 'chai';
import { HostState, NodeState, OperationState, type CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { TestSite, type SiteAgent } from '../../helpers/site-harness.js';
import { collect, until } from '../../helpers/wait.js';

// Failure handling with real processes: a host whose hypervisor fails, a
// coordinator SIGKILLed in the middle of deployments, an agent SIGKILLed.
// Agents use the SIMULATED hypervisor driver (see site.spec.ts).

/** Every vonode domain the agents really run, as hostname → agent names. */
async function realDomains(site: TestSite, agents: SiteAgent[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const a of agents) {
    const c = site.agentClient(a);
    try {
      for (const d of (await c.listDomains()).domains) out.set(d.spec!.hostname, [...(out.get(d.spec!.hostname) ?? []), a.name]);
    } finally {
      c.close();
    }
  }
  return out;
}

describe('vonode-coordinator failure handling (real processes)', function () {
  this.timeout(180_000);
  // 'aaa-fail''s hypervisor always fails. The others take 1 s to start a domain, so each holds its
  // host's slot through the first dispatch pass: of three deployments on three idle hosts one must
  // land on the failing host (with a quick VMB a fast host could take two before that).
  const site = new TestSite({
    agents: [
      { name: 'aaa-fail', failStart: true },
      { name: 'phys-b', bootDelay: '1500ms', simulated: { startDelay: '1s' } },
      { name: 'phys-c', bootDelay: '1500ms', simulated: { startDelay: '1s' } },
    ],
    poolSize: 8,
  });
  let client: CoordinatorClient;

  before(async () => {
    await site.start();
    client = site.client();
    await until('agents up', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 3 ? true : undefined));
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(site.recentLogs(2000));
  });
  after(async () => {
    client?.close();
    await site.stop();
  });

  it('retries a failed deployment on another host after cleaning up the failed one', async () => {
    // Three deployments on three idle hosts: one of them lands on the failing host.
    const events = await collect(client.deployNodes({ vo: 'fusion', count: 3 }));
    const ops = events.filter((e) => e.event?.$case === 'operation').map((e) => (e.event as { value: { state: number; host: string; attempt: number } }).value);
    expect(ops.some((o) => o.state === OperationState.OPERATION_STATE_RETRYING && o.host === 'aaa-fail')).to.equal(true);
    const final = new Map<string, { state: number; host: string; attempt: number }>();
    for (const e of events) if (e.event?.$case === 'operation') final.set(e.event.value.id, e.event.value);
    expect([...final.values()].map((o) => o.state)).to.deep.equal(Array(3).fill(OperationState.OPERATION_STATE_SUCCEEDED));
    expect([...final.values()].map((o) => o.host)).to.not.include('aaa-fail');
    expect([...final.values()].map((o) => o.attempt).sort()).to.deep.equal([1, 1, 2]);
    expect(await site.dhcpFiles(site.agents[0]!)).to.deep.equal([]);
  });

  it('survives a SIGKILL of the coordinator mid-deployment: nothing leaked, nothing duplicated', async () => {
    // Stop failing host first so the recovery is about the crash, not retries.
    await site.kill(site.agents[0]!.proc);
    const stream = client.deployNodes({ vo: 'bio', count: 4 });
    const seen: CoordinatorEvent[] = [];
    const consumer = (async () => {
      try {
        for await (const e of stream) seen.push(e);
      } catch {
        // the coordinator dies under this stream
      }
    })();
    await until('deployments under way', async () => (seen.some((e) => e.event?.$case === 'phase') ? true : undefined));
    await site.kill(site.coordinatorProc);
    await consumer;
    client.close();
    await site.startCoordinator();
    client = site.client();
    const nodes = await until('every bio node running again', async () => {
      const { nodes } = await client.listNodes('bio');
      return nodes.length === 4 && nodes.every((n) => n.state === NodeState.NODE_STATE_RUNNING) ? nodes : undefined;
    }, 60_000);
    const live = site.agents.slice(1);
    const domains = await until('agents hold exactly the recorded domains', async () => {
      const d = await realDomains(site, live);
      const all = (await client.listNodes()).nodes;
      return d.size === all.length ? d : undefined;
    });
    for (const n of nodes) expect(domains.get(n.hostname), n.hostname).to.deep.equal([n.host]);
    const status = await client.status();
    expect(status.poolFree).to.equal(8 - (await client.listNodes()).nodes.length);
    expect(new Set(nodes.map((n) => n.ip)).size).to.equal(nodes.length);
  });

  it('marks a SIGKILLed agent down within the configured window', async () => {
    const victim = site.agents[2]!;
    await site.kill(victim.proc);
    const killedAt = Date.now();
    await until('agent down', async () => ((await client.listHosts()).hosts.find((h) => h.name === victim.name)?.state === HostState.HOST_STATE_DOWN ? true : undefined));
    const noticedMs = Date.now() - killedAt;
    // downAfter is 1500 ms in this site; the sweep runs every downAfter/5.
    expect(noticedMs).to.be.below(5000);
    site.startAgent(victim);
    await until('agent back up', async () => ((await client.listHosts()).hosts.find((h) => h.name === victim.name)?.state === HostState.HOST_STATE_UP ? true : undefined));
  });

  it('removes every node and leaves no domain, DHCP entry or lease behind', async () => {
    for (const n of (await client.listNodes()).nodes) await collect(client.removeNode(n.hostname));
    expect((await client.listNodes()).nodes).to.deep.equal([]);
    expect((await client.status()).poolFree).to.equal(8);
    expect((await realDomains(site, site.agents.slice(1))).size).to.equal(0);
    for (const a of site.agents) expect(await site.dhcpFiles(a), a.name).to.deep.equal([]);
  });
});
