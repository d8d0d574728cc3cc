import { expect } from 'chai';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HostState } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { AgentClient } from '../../../../shared/rpc/agent-client.js';
import type { RpcCallError } from '../../../../shared/rpc/grpc-call.js';
import { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { channelCredentials } from '../../../../shared/rpc/credentials.js';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { collect, until } from '../../../helpers/wait.js';

/** The error a call failed with (fails the test if it succeeded). */
async function refusal(call: () => Promise<unknown>): Promise<RpcCallError> {
  const err = await call().then(() => undefined, (e: unknown) => e);
  expect(err, 'the call must be refused').to.be.instanceOf(Error);
  return err as RpcCallError;
}

// Who may do what, over real mutual TLS: a real coordinator and real agents
// (simulated hypervisor) with certificates from scripts/pki/make-site-pki.sh.
describe('coordinator and agents: certificate roles (real mTLS)', function () {
  this.timeout(90_000);
  const site = new TestSite({ agents: [{ name: 'phys-a' }, { name: 'phys-b' }], poolSize: 4 });
  const clients: Array<{ close(): void }> = [];
  const as = (certificate: string): CoordinatorClient => {
    const c = site.client(certificate);
    clients.push(c);
    return c;
  };
  const agentAs = (certificate: string, agent = 0): AgentClient => {
    const c = new AgentClient(`127.0.0.1:${site.agents[agent]!.port}`, channelCredentials(site.tls(certificate), false, 'test'));
    clients.push(c);
    return c;
  };

  before(async () => {
    await site.start();
    await until('both agents up', async () => ((await as('cli').listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2 ? true : undefined));
  });
  after(async () => {
    for (const c of clients) c.close();
    await site.stop();
  });

  it('a reader looks but cannot deploy or change the policy; nothing changes', async () => {
    const reader = as('reader');
    const before = await reader.getPolicy();
    expect((await reader.status()).site).to.equal('test-site');
    const apply = await refusal(() => reader.applyPolicy(before.yaml.replace('weight: 2', 'weight: 3')));
    expect(apply.code).to.equal(status.PERMISSION_DENIED);
    expect(apply.details).to.match(/^ApplyPolicy needs the role admin; the certificate 'reader' \(role reader\) does not have it/);
    const deploy = await refusal(() => collect(reader.deployNodes({ vo: 'bio', count: 1 })));
    expect(deploy.code).to.equal(status.PERMISSION_DENIED);
    expect(deploy.details).to.match(/DeployNodes needs one of the roles admin, operator/);
    expect((await reader.getPolicy()).yaml).to.equal(before.yaml);
    expect((await reader.timings()).operations).to.have.length(0);
  });

  it('an operator deploys and removes but cannot change the policy', async () => {
    const operator = as('operator');
    const events = await collect(operator.deployNodes({ vo: 'bio', count: 1 }));
    const node = events.flatMap((e) => (e.event?.$case === 'node' ? [e.event.value.hostname] : []))[0];
    expect(node, 'a node was deployed').to.be.a('string');
    await collect(operator.removeNode(node!));
    const apply = await refusal(async () => operator.applyPolicy((await operator.getPolicy()).yaml));
    expect(apply.code).to.equal(status.PERMISSION_DENIED);
    expect(apply.details).to.include("'operator' (role operator)");
  });

  it("an agent's certificate used as a CLI can do nothing but register and heartbeat", async () => {
    const agent = as('phys-a');
    for (const call of [() => agent.status(), async () => agent.applyPolicy('vos: {}'), () => collect(agent.deployNodes({ vo: 'bio', count: 1 }))]) {
      const err = await refusal(call);
      expect(err.code).to.equal(status.PERMISSION_DENIED);
      expect(err.details).to.include("'phys-a' (role agent)");
    }
  });

  it('an agent registers and heartbeats only as the host its certificate names: no phantom host', async () => {
    const agent = as('phys-a');
    const facts = (await agentAs('cli').hostFacts());
    const register = await refusal(() => agent.registerAgent({ hostName: 'phys-fake', address: '127.0.0.1:1', facts: { ...facts, hostname: 'phys-fake', cpus: 64 }, domains: [] }));
    expect(register.code).to.equal(status.PERMISSION_DENIED);
    expect(register.details).to.include("may act only as 'phys-a', not as 'phys-fake'");
    const heartbeat = await refusal(() => agent.heartbeat({ hostName: 'phys-b', facts }));
    expect(heartbeat.code).to.equal(status.PERMISSION_DENIED);
    const hosts = (await as('cli').listHosts()).hosts.map((h) => h.name);
    expect(hosts).to.have.members(['phys-a', 'phys-b']);
  });

  it("GridWay's certificate reports visibility and reads; readers and the BDII provider cannot report", async () => {
    const report = (c: CoordinatorClient): Promise<unknown> =>
      new Promise((resolve, reject) => c.raw.reportVisibility({ phase: Phase.PHASE_GW, hostnames: [], reporter: 'test', moment: '' }, new Metadata(), (e, r) => (e ? reject(e) : resolve(r))));
    await report(as('gridway'));
    expect((await as('gridway').listNodes()).nodes).to.be.an('array');
    expect((await as('infosys').status()).site).to.equal('test-site');
    for (const who of ['reader', 'infosys']) {
      const err = (await report(as(who)).then(() => undefined, (e: unknown) => e)) as { code: number; details: string };
      expect(err.code, who).to.equal(status.PERMISSION_DENIED);
      expect(err.details).to.match(/ReportVisibility needs the role gridway/);
    }
  });

  it("an agent obeys only the coordinator's certificate; admins may look", async () => {
    const spec = { hostname: 'vwn-099', ip: '10.77.0.99', mac: '52:54:00:77:00:99', vo: 'bio', vcpus: 1, memoryMb: 64, disk: { url: site.image.url, sha256: site.image.sha256, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 }, cmdline: '' };
    for (const who of ['cli', 'phys-b', 'operator']) {
      const err = await refusal(() => collect(agentAs(who).deploy({ operationId: '', vm: spec as never })));
      expect(err.code, who).to.equal(status.PERMISSION_DENIED);
      expect(err.details).to.match(/Deploy needs the role coordinator/);
      const remove = await refusal(() => collect(agentAs(who).remove({ hostname: 'vwn-001' })));
      expect(remove.code).to.equal(status.PERMISSION_DENIED);
    }
    expect((await agentAs('cli').listDomains()).domains).to.have.length(0);
    expect((await agentAs('reader').hostFacts()).cpus).to.be.greaterThan(0);
    expect(await site.dhcpFiles(site.agents[0]!)).to.have.length(0);
  });

  it('a site certificate without a role is refused with what to do', async () => {
    const dir = site.pki;
    await runChecked(new ProcessRunner(), [
      'openssl', 'req', '-x509', '-CA', path.join(dir, 'ca.pem'), '-CAkey', path.join(dir, 'ca-key.pem'), '-days', '1',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=old-cli', '-addext', 'subjectAltName=DNS:old-cli',
      '-keyout', path.join(dir, 'old-cli-key.pem'), '-out', path.join(dir, 'old-cli.pem'),
    ]);
    const err = await refusal(() => as('old-cli').status());
    expect(err.code).to.equal(status.PERMISSION_DENIED);
    expect(err.details).to.match(/the certificate 'old-cli' carries no vonode role.*make-site-pki.sh --role ROLE old-cli/);
  });

  it('a client without a certificate never reaches a handler', async () => {
    const bare = new CoordinatorClient(`127.0.0.1:${site.coordinatorPort}`, credentials.createSsl(await readFile(path.join(site.pki, 'ca.pem'))));
    clients.push(bare);
    expect((await refusal(() => bare.status())).code).to.equal(status.UNAVAILABLE);
  });

  // Last: revocations change the site's CRL for every later call.
  it('a revoked certificate is refused within seconds; a revoked agent is marked down and gets no work', async () => {
    const reader = as('reader');
    expect((await reader.status()).site).to.equal('test-site');
    await site.revoke('reader', 'phys-b');
    const err = await until('reader refused', async () => {
      const e = await as('reader').status().then(() => undefined, (x: unknown) => x as RpcCallError);
      return e?.code === status.UNAUTHENTICATED ? e : undefined;
    }, 15_000);
    expect(err.details).to.match(/'reader' \(role reader\) with serial [0-9A-F]+ is revoked by the site CRL/);
    await until('phys-b down', async () => ((await as('cli').listHosts()).hosts.find((h) => h.name === 'phys-b')?.state === HostState.HOST_STATE_DOWN ? true : undefined), 15_000);
    const events = await collect(as('cli').deployNodes({ vo: 'fusion', count: 2 }));
    const hosts = new Set(events.flatMap((e) => (e.event?.$case === 'node' && e.event.value.host ? [e.event.value.host] : [])));
    expect([...hosts]).to.deep.equal(['phys-a']);
    expect((await as('operator').status()).site, 'other certificates still work').to.equal('test-site');
  });
});
