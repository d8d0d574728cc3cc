import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { credentials, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Agent } from '../../../agent/agent.js';
import { parseAgentConfig } from '../../../agent/config.js';
import { silentLogger } from '../../../shared/logger.js';
import { AgentClient } from '../../../shared/rpc/agent-client.js';
import { channelCredentials } from '../../../shared/rpc/credentials.js';
import { ProcessRunner, runChecked } from '../../../shared/process/command-runner.js';
import { tempDir } from '../../helpers/agent-fakes.js';

// A real agent (in-process) on 127.0.0.1:0 with mutual TLS from the
// project's PKI script: health, reflection, and refusal of unauthenticated clients.
describe('vonode-agent gRPC server: health, reflection, mutual TLS', () => {
  let agent: Agent;
  let pki: string;
  let address: string;

  before(async () => {
    const dir = await tempDir('vonode-srv-');
    pki = path.join(dir, 'pki');
    await runChecked(new ProcessRunner(), [path.resolve('scripts/pki/make-site-pki.sh'), pki, '--role', 'agent', 'agent:DNS:localhost,IP:127.0.0.1', '--role', 'reader', 'cli']);
    const other = path.join(dir, 'other-pki');
    await runChecked(new ProcessRunner(), [path.resolve('scripts/pki/make-site-pki.sh'), other, '--role', 'coordinator', 'intruder']);
    await writeFile(path.join(dir, 'leases'), '');
    const config = parseAgentConfig(`
listen: 127.0.0.1:0
stateDir: ${dir}/state
dhcp: { dnsmasq: { hostsDir: ${dir}/hosts, leaseFile: ${dir}/leases } }
tls: { ca: ${pki}/ca.pem, cert: ${pki}/agent.pem, key: ${pki}/agent-key.pem }
`);
    agent = new Agent(config, silentLogger());
    await agent.start();
    address = `localhost:${agent.port}`;
  });
  after(async () => agent?.shutdown());

  const tls = (name: string, dir = pki) => ({ ca: `${pki}/ca.pem`, cert: `${dir}/${name}.pem`, key: `${dir}/${name}-key.pem` });

  it('answers HostFacts to a client with a certificate from the site CA', async () => {
    const client = new AgentClient(address, channelCredentials(tls('cli'), false, 'test'));
    try {
      const facts = await client.hostFacts();
      expect(facts.cpus).to.be.greaterThan(0);
      expect(facts.memoryTotalBytes).to.be.greaterThan(0);
      expect(facts.hypervisor).to.equal('qemu');
    } finally {
      client.close();
    }
  });

  it('refuses a client without a certificate', async () => {
    const { readFileSync } = await import('node:fs');
    const client = new AgentClient(address, credentials.createSsl(readFileSync(`${pki}/ca.pem`)));
    let err: unknown;
    await client.hostFacts().catch((e: unknown) => (err = e));
    client.close();
    expect(err, 'the call must fail').to.be.instanceOf(Error);
    expect((err as { code: number }).code).to.equal(14); // UNAVAILABLE: handshake refused
  });

  it('refuses a client whose certificate another CA signed', async () => {
    const dir = path.join(path.dirname(pki), 'other-pki');
    const client = new AgentClient(address, channelCredentials({ ca: `${pki}/ca.pem`, cert: `${dir}/intruder.pem`, key: `${dir}/intruder-key.pem` }, false, 'test'));
    let err: unknown;
    await client.hostFacts().catch((e: unknown) => (err = e));
    client.close();
    expect((err as { code: number } | undefined)?.code).to.equal(14);
  });

  it('serves grpc.health.v1 SERVING for the agent service', async () => {
    const def = loadSync('health.proto', { includeDirs: [path.resolve('node_modules/grpc-health-check/proto/health/v1')], enums: String });
    const pkg = loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: ServiceClientConstructor } } } };
    const client = new pkg.grpc.health.v1.Health(address, channelCredentials(tls('cli'), false, 'test'));
    const reply = await new Promise<{ status: string }>((res, rej) =>
      client['check']!({ service: 'vonode.v1.AgentService' }, (e: Error | null, r: { status: string }) => (e ? rej(e) : res(r))),
    );
    client.close();
    expect(reply.status).to.equal('SERVING');
  });

  it('lists its services through server reflection', async () => {
    const def = loadSync('grpc/reflection/v1alpha/reflection.proto', { includeDirs: [path.resolve('node_modules/@grpc/reflection/build/proto')] });
    const pkg = loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1alpha: { ServerReflection: ServiceClientConstructor } } } };
    const client = new pkg.grpc.reflection.v1alpha.ServerReflection(address, channelCredentials(tls('cli'), false, 'test'));
    const call = client['serverReflectionInfo']!() as NodeJS.EventEmitter & { write(m: unknown): void; end(): void };
    const services = await new Promise<string[]>((res, rej) => {
      call.on('data', (m: { listServicesResponse?: { service: Array<{ name: string }> } }) => res(m.listServicesResponse?.service.map((s) => s.name) ?? []));
      call.on('error', rej);
      call.write({ listServices: '*' });
    });
    call.end();
    client.close();
    expect(services).to.include('vonode.v1.AgentService');
  });

  it('will not start without TLS unless --insecure is given', async () => {
    const dir = await tempDir('vonode-srv2-');
    const config = parseAgentConfig(`listen: 127.0.0.1:0\nstateDir: ${dir}/state\ndhcp: { dnsmasq: { hostsDir: ${dir}/hosts, leaseFile: ${dir}/leases } }\n`);
    const plain = new Agent(config, silentLogger());
    let err: unknown;
    await plain.start().catch((e: unknown) => (err = e));
    await plain.shutdown();
    expect((err as Error).message).to.match(/no TLS configured.*--insecure/);
  });
});
