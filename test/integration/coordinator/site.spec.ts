import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HostState, NodeState, OperationState, type CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import { Edge, Phase } from '../../../shared/gen/vonode/v1/common.js';
import { CoordinatorClient, isCoordinatorCallError } from '../../../shared/rpc/coordinator-client.js';
import { channelCredentials } from '../../../shared/rpc/credentials.js';
import { TestSite } from '../../helpers/site-harness.js';
import { vonode } from '../../helpers/run-vonode-cli.js';
import { collect, until } from '../../helpers/wait.js';

// A real coordinator and real agents, each its own process, over gRPC with
// mutual TLS on loopback. The agents use the SIMULATED hypervisor driver (no
// VM boots); the real drivers are covered by the agent's own tests.

const finalStates = (events: CoordinatorEvent[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const e of events) if (e.event?.$case === 'operation') m.set(e.event.value.id, e.event.value.state);
  return m;
};

describe('vonode-coordinator with real agents (separate processes, mTLS)', function () {
  this.timeout(120_000);
  const site = new TestSite({ agents: [{ name: 'phys-a' }, { name: 'phys-b' }, { name: 'phys-c' }], poolSize: 12, coordinator: { metrics: { listen: '127.0.0.1:0' } } });
  let client: CoordinatorClient;

  before(async () => {
    await site.start();
    client = site.client();
    await until('3 agents up', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 3 ? true : undefined));
  });
  after(async () => {
    client?.close();
    await site.stop();
  });

  it('lists registered agents with their host facts', async () => {
    const { hosts } = await client.listHosts();
    expect(hosts.map((h) => h.name)).to.deep.equal(['phys-a', 'phys-b', 'phys-c']);
    for (const h of hosts) expect(h.facts?.cpus).to.be.greaterThan(0);
  });

  it('deploys nodes with at most one deployment per host at a time (seen in phase timestamps)', async () => {
    const events = await collect(client.deployNodes({ vo: 'bio', count: 6 }));
    const states = finalStates(events);
    expect([...states.values()]).to.have.length(6).and.to.satisfy((s: number[]) => s.every((x) => x === OperationState.OPERATION_STATE_SUCCEEDED));
    // Host-side work (CR start .. VMB end) of two deployments on one host never overlaps.
    const opHost = new Map<string, string>();
    for (const e of events) if (e.event?.$case === 'operation' && e.event.value.host) opHost.set(e.event.value.id, e.event.value.host);
    const windows = new Map<string, { from: number; to: number }>();
    for (const e of events) {
      if (e.event?.$case !== 'phase') continue;
      const p = e.event.value;
      const w = windows.get(p.operationId) ?? { from: Infinity, to: -Infinity };
      if (p.phase === Phase.PHASE_CR && p.edge === Edge.EDGE_START) w.from = p.monotonicMs;
      if (p.phase === Phase.PHASE_VMB && p.edge === Edge.EDGE_END) w.to = p.monotonicMs;
      windows.set(p.operationId, w);
    }
    const byHost = new Map<string, Array<{ from: number; to: number }>>();
    for (const [op, w] of windows) byHost.set(opHost.get(op)!, [...(byHost.get(opHost.get(op)!) ?? []), w]);
    expect(byHost.size).to.equal(3, 'placement spreads over the three hosts');
    for (const [host, ws] of byHost) {
      ws.sort((a, b) => a.from - b.from);
      for (let i = 1; i < ws.length; i++) expect(ws[i]!.from, `overlap on ${host}`).to.be.at.least(ws[i - 1]!.to);
    }
    const { nodes } = await client.listNodes('bio');
    expect(nodes.filter((n) => n.state === NodeState.NODE_STATE_RUNNING)).to.have.length(6);
    expect(new Set(nodes.map((n) => n.ip)).size).to.equal(6);
  });

  it('reports per-phase timings of every deployment', async () => {
    const { operations } = await client.timings(0);
    const deploys = operations.filter((o) => o.operation?.state === OperationState.OPERATION_STATE_SUCCEEDED);
    expect(deploys.length).to.be.at.least(6);
    for (const o of deploys) {
      expect(o.phases.map((p) => p.phase)).to.include.members([Phase.PHASE_CR, Phase.PHASE_PT, Phase.PHASE_DA, Phase.PHASE_VMB, Phase.PHASE_VMR]);
      expect(o.totalMs).to.be.greaterThan(0);
    }
  });

  it('drains and removes nodes, freeing their triples and leaving no DHCP entry', async () => {
    const { nodes } = await client.listNodes('bio');
    for (const n of nodes) {
      const events = await collect(client.drainNode(n.hostname));
      expect([...finalStates(events).values()]).to.deep.equal([OperationState.OPERATION_STATE_SUCCEEDED]);
    }
    expect((await client.listNodes()).nodes).to.have.length(0);
    expect((await client.status()).poolFree).to.equal(12);
    for (const a of site.agents) expect(await site.dhcpFiles(a), a.name).to.deep.equal([]);
  });

  it('refuses bad requests with a reason and changes nothing', async () => {
    const bad = async (fn: () => Promise<unknown>, code: number, text: RegExp): Promise<void> => {
      const err = await fn().then(() => undefined, (e: unknown) => e);
      expect(isCoordinatorCallError(err), String(err)).to.equal(true);
      if (isCoordinatorCallError(err)) {
        expect(err.code).to.equal(code);
        expect(err.details).to.match(text);
      }
    };
    await bad(() => collect(client.deployNodes({ vo: 'chemistry', count: 1 })), status.NOT_FOUND, /not in the policy/);
    await bad(() => collect(client.deployNodes({ vo: 'bio', count: 99 })), status.INVALID_ARGUMENT, /count/);
    await bad(() => collect(client.deployNodes({ vo: 'bio', count: 1, host: 'nowhere' })), status.NOT_FOUND, /no registered agent/);
    await bad(() => collect(client.drainNode('Not A Host!')), status.INVALID_ARGUMENT, /hostname/);
    expect((await client.status()).poolFree).to.equal(12);
  });

  it('refuses an invalid policy edit live, keeps the old one, and says so in status', async () => {
    const good = await readFile(site.policyFile, 'utf8');
    await writeFile(site.policyFile, good.replace('weight: 2', 'weight: -2'));
    const rejected = await until('policy rejected', async () => ((await client.status()).policy?.rejectedError || undefined));
    expect(rejected).to.match(/weight/);
    expect((await client.status()).vos.find((v) => v.vo === 'bio')?.weight).to.equal(2);
    await writeFile(site.policyFile, good.replace('weight: 2', 'weight: 3'));
    await until('policy applied', async () => ((await client.status()).vos.find((v) => v.vo === 'bio')?.weight === 3 ? true : undefined));
    expect((await client.status()).policy?.rejectedError).to.equal('');
  });

  it('answers the real vonode CLI over mutual TLS (status --json, deploy with progress lines, timings, remove)', async () => {
    const env = { VONODE_COORDINATOR: `127.0.0.1:${site.coordinatorPort}`, VONODE_TLS_CA: path.join(site.pki, 'ca.pem'), VONODE_TLS_CERT: path.join(site.pki, 'cli.pem'), VONODE_TLS_KEY: path.join(site.pki, 'cli-key.pem') };
    const st = await vonode(['status', '--json'], env);
    expect(st.code, st.err).to.equal(0);
    expect(JSON.parse(st.out)).to.include({ site: 'test-site', hostsUp: 3, poolTotal: 12 });
    const dep = await vonode(['deploy', '--vo', 'fusion', '--count', '2'], env);
    expect(dep.code, dep.err + dep.out).to.equal(0);
    expect(dep.out).to.match(/VMR/);
    const nodes = JSON.parse((await vonode(['nodes', '--json', '--vo', 'fusion'], env)).out) as { nodes: Array<{ hostname: string }> } | Array<{ hostname: string }>;
    const list = Array.isArray(nodes) ? nodes : nodes.nodes;
    expect(list).to.have.length(2);
    const t = await vonode(['timings'], env);
    expect(t.code).to.equal(0);
    expect(t.out).to.match(/median/i);
    for (const n of list) expect((await vonode(['remove', n.hostname], env)).code).to.equal(0);
    expect((await vonode(['health', `127.0.0.1:${site.agents[0]!.port}`], env)).out).to.match(/SERVING/);
  });

  it('serves Prometheus metrics: operations by result, phase histograms, queue depth, agents up', async () => {
    const port = await until('metrics port in the log', async () => {
      const m = /"metricsPort":(\d+)/.exec(site.recentLogs(2000));
      return m ? Number(m[1]) : undefined;
    });
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).to.match(/vonode_operations_total\{kind="deploy",result="succeeded"\} \d+/);
    expect(text).to.match(/vonode_phase_duration_seconds_bucket\{le="[^"]+",phase="PT"\}/);
    expect(text).to.match(/vonode_queue_depth\{state="queued"\} 0/);
    expect(text).to.match(/vonode_agents\{state="up"\} 3/);
    expect(text).to.match(/vonode_dispatch_pass_seconds\{quantile="0.99"\}/);
  });

  it('refuses a client without a certificate from the site CA', async () => {
    const plain = new CoordinatorClient(`127.0.0.1:${site.coordinatorPort}`, channelCredentials(undefined, true, 'test'));
    const err = await plain.status().then(() => undefined, (e: unknown) => e);
    plain.close();
    expect(isCoordinatorCallError(err) && err.code).to.equal(status.UNAVAILABLE);
    const pki = site.pki;
    const noClientCert = new CoordinatorClient(`127.0.0.1:${site.coordinatorPort}`, (await import('@grpc/grpc-js')).credentials.createSsl(await readFile(path.join(pki, 'ca.pem'))));
    const err2 = await noClientCert.status().then(() => undefined, (e: unknown) => e);
    noClientCert.close();
    expect(isCoordinatorCallError(err2) && err2.code).to.equal(status.UNAVAILABLE);
  });
});
