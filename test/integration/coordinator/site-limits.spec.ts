import { expect } from 'chai';
import { Edge, Phase } from '../../../shared/gen/vonode/v1/common.js';
import { HostState, OperationState, type CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { TestSite } from '../../helpers/site-harness.js';
import { collect } from '../../helpers/wait.js';

// The queue's limits with real processes (agents on the SIMULATED hypervisor):
// the site-wide cap on image transfers, and per-phase timeouts.

function phaseAt(events: CoordinatorEvent[], op: string, phase: Phase, edge: Edge): number {
  for (const e of events) {
    if (e.event?.$case === 'phase' && e.event.value.operationId === op && e.event.value.phase === phase && e.event.value.edge === edge) return e.event.value.monotonicMs;
  }
  throw new Error(`no ${Phase[phase]} ${Edge[edge]} for ${op}`);
}

describe('vonode-coordinator queue limits (real processes)', function () {
  this.timeout(120_000);
  const site = new TestSite({
    agents: [{ name: 'phys-a', bootDelay: '200ms' }, { name: 'phys-b', bootDelay: '200ms' }],
    poolSize: 6,
    coordinator: { deploy: { maxConcurrentTransfers: 1, maxAttempts: 2, phaseTimeouts: { VMR: '1s' } } },
  });
  let client: CoordinatorClient;

  before(async () => {
    await site.start();
    client = site.client();
    for (;;) {
      const { hosts } = await client.listHosts();
      if (hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    client?.close();
    await site.stop();
  });

  it('lets one image transfer run at a time across the site (maxConcurrentTransfers: 1)', async () => {
    const events = await collect(client.deployNodes({ vo: 'bio', count: 2 }));
    const ops = [...new Set(events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value.id] : [])))];
    const hosts = new Set(events.flatMap((e) => (e.event?.$case === 'operation' && e.event.value.host ? [e.event.value.host] : [])));
    expect(hosts.size, 'both cold hosts were used').to.equal(2);
    const [a, b] = ops.map((op) => ({ op, crStart: phaseAt(events, op, Phase.PHASE_CR, Edge.EDGE_START), ptEnd: phaseAt(events, op, Phase.PHASE_PT, Edge.EDGE_END) })).sort((x, y) => x.crStart - y.crStart);
    expect(b!.crStart, 'the second transfer starts after the first one ended').to.be.at.least(a!.ptEnd);
    for (const n of (await client.listNodes()).nodes) await collect(client.removeNode(n.hostname));
  });

  it('abandons an attempt whose phase outlives its timeout, cleans up, retries elsewhere, then fails leaving nothing', async () => {
    // Guests that take 3 s to get their lease, against a 1 s VMR limit.
    for (const a of site.agents) {
      await site.kill(a.proc);
      const { readFile, writeFile } = await import('node:fs/promises');
      await writeFile(a.configFile, (await readFile(a.configFile, 'utf8')).replace('bootDelay: 200ms', 'bootDelay: 3s'));
      site.startAgent(a);
    }
    await new Promise((r) => setTimeout(r, 2500));
    const events = await collect(client.deployNodes({ vo: 'fusion', count: 1 }));
    const ops = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value] : []));
    const last = ops.at(-1)!;
    expect(last.state).to.equal(OperationState.OPERATION_STATE_FAILED);
    expect(last.attempt).to.equal(2);
    expect(last.error).to.match(/phase VMR did not end within 1000 ms/);
    expect(new Set(ops.filter((o) => o.host).map((o) => o.host)).size, 'retried on the other host').to.equal(2);
    const status = await client.status();
    expect(status.poolFree).to.equal(6 - (await client.listNodes()).nodes.length);
    expect((await client.listNodes('fusion')).nodes).to.deep.equal([]);
    for (const a of site.agents) {
      expect(await site.dhcpFiles(a), a.name).to.deep.equal([]);
      const c = site.agentClient(a);
      expect((await c.listDomains()).domains.filter((d) => d.spec?.vo === 'fusion')).to.deep.equal([]);
      c.close();
    }
  });
});
