import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Metadata, status } from '@grpc/grpc-js';
import { Agent } from '../../../agent/agent.js';
import { parseAgentConfig } from '../../../agent/config.js';
import type { PrefetchProgress } from '../../../shared/gen/vonode/v1/agent.js';
import type { ImageRef, VmSpec } from '../../../shared/gen/vonode/v1/common.js';
import { silentLogger } from '../../../shared/logger.js';
import { ProcessRunner, runChecked } from '../../../shared/process/command-runner.js';
import { AgentCallError, AgentClient, isAgentCallError } from '../../../shared/rpc/agent-client.js';
import { channelCredentials, type TlsFiles } from '../../../shared/rpc/credentials.js';
import { streamCall } from '../../../shared/rpc/grpc-call.js';
import { tempDir } from '../../helpers/agent-fakes.js';
import { collect } from '../../helpers/deploy-events.js';
import { FlakyImageServer } from '../../helpers/flaky-image-server.js';

/**
 * The throwaway site PKI of these tests, in one place: the agent's server
 * certificate (for localhost) and the client certificate `coordinator`, the
 * one party an agent obeys. Returns the TLS files of a certificate by name.
 */
async function makeTestPki(dir: string): Promise<(name: 'agent' | 'coordinator') => TlsFiles> {
  await runChecked(new ProcessRunner(), [
    path.resolve('scripts/pki/make-site-pki.sh'), dir,
    '--role', 'agent', 'agent:DNS:localhost,IP:127.0.0.1',
    '--role', 'coordinator', 'coordinator',
  ]);
  return (name) => ({ ca: path.join(dir, 'ca.pem'), cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`), crl: path.join(dir, 'crl.pem') });
}

const HEX_DIGEST = /[0-9a-f]{64}/g;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// A real agent (in-process, simulated hypervisor, real dnsmasq backend files,
// real image cache) on 127.0.0.1:0 behind mutual TLS, called over real gRPC
// with the coordinator's certificate: what it refuses, with which code, and
// what it leaves behind (nothing).
describe('vonode-agent trusts nobody: image sources, identities, errors (real gRPC, mutual TLS)', function () {
  this.timeout(60_000);
  let dir: string;
  let agent: Agent;
  let client: AgentClient;
  let repo: FlakyImageServer;
  let elsewhere: FlakyImageServer;
  const disk = randomBytes(96 * 1024);
  let serial = 0;

  const fileImage = (): ImageRef => ({ url: pathToFileURL(path.join(dir, 'repo', 'disk.img')).href, sha256: sha256(disk), sizeBytes: 0, peers: [], rateBytesPerSecond: 0 });
  const httpImage = (): ImageRef => ({ url: repo.url('appliances/disk.img'), sha256: sha256(disk), sizeBytes: 0, peers: [], rateBytesPerSecond: 0 });
  const vm = (over: Partial<VmSpec> = {}): VmSpec => {
    const n = ++serial;
    return {
      hostname: `vwn-trust-${String(n).padStart(3, '0')}`, ip: `10.98.0.${10 + n}`, mac: `52:54:00:98:00:${(16 + n).toString(16)}`, vo: 'bio',
      disk: fileImage(), kernel: undefined, initrd: undefined, cmdline: '', vcpus: 1, memoryMb: 64, ...over,
    };
  };
  const failure = (p: Promise<unknown>): Promise<AgentCallError> =>
    p.then(() => expect.fail('expected the agent to refuse'), (e: unknown) => {
      if (!isAgentCallError(e)) throw e;
      return e;
    });
  const filesIn = async (...parts: string[]): Promise<string[]> => (await readdir(path.join(dir, ...parts)).catch(() => [] as string[])).filter((f) => !f.startsWith('.'));
  const prefetch = (image: ImageRef): Promise<PrefetchProgress[]> => collectAll(streamCall(AgentCallError, 'PrefetchImage', client.raw.prefetchImage({ image }, new Metadata())));
  /** Domains, DHCP files, records, partial downloads: everything a refused request must not leave. */
  const traces = async (): Promise<Record<string, string[]>> => ({
    domains: (await client.listDomains()).domains.map((d) => d.spec?.hostname ?? ''),
    dhcpFiles: await filesIn('hosts'),
    records: (await filesIn('state', 'records')).map((f) => f.replace(/\.json$/, '')),
    partials: await filesIn('state', 'images', 'partial'),
  });
  const removeAll = async (): Promise<void> => {
    for (const d of (await client.listDomains()).domains) await collect(client.remove({ hostname: d.spec!.hostname }));
  };

  before(async () => {
    dir = await tempDir('vonode-trust-');
    const tls = await makeTestPki(path.join(dir, 'pki'));
    repo = await new FlakyImageServer().start();
    elsewhere = await new FlakyImageServer().start();
    repo.put('appliances/disk.img', disk);
    elsewhere.put('appliances/disk.img', disk);
    await mkdir(path.join(dir, 'repo'));
    await mkdir(path.join(dir, 'hosts'));
    await writeFile(path.join(dir, 'repo', 'disk.img'), disk);
    // An operator's mistake (or an intruder's plant) in the repository: a link to a file outside it.
    await symlink('/etc/shadow', path.join(dir, 'repo', 'shadow.img'));
    await writeFile(path.join(dir, 'leases'), '');
    const config = parseAgentConfig(`
listen: 127.0.0.1:0
stateDir: ${dir}/state
hypervisor: { driver: simulated, simulated: { startDelay: 20ms, bootDelay: 100ms } }
dhcp: { dnsmasq: { hostsDir: ${dir}/hosts, leaseFile: ${dir}/leases } }
deploy: { vmrTimeout: 10s, shutdownTimeout: 2s, memoryReserve: 0 }
images: { sources: ["${pathToFileURL(path.join(dir, 'repo')).href}/", "${repo.url('appliances/')}"] }
tls: ${JSON.stringify(tls('agent'))}
`);
    agent = new Agent(config, silentLogger());
    await agent.start();
    client = new AgentClient(`localhost:${agent.port}`, channelCredentials(tls('coordinator'), false, 'test'));
  });
  after(async () => {
    client?.close();
    await agent?.shutdown();
    await repo?.stop();
    await elsewhere?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    repo.always = {};
    await removeAll();
  });

  it('refuses Deploy of file:///etc/shadow with PERMISSION_DENIED that names the URL and images.sources, and no digest but the requested one', async () => {
    const requested = 'c'.repeat(64);
    const shadow = await readFile('/etc/shadow').then(sha256, () => undefined);
    for (const url of ['file:///etc/shadow', pathToFileURL(path.join(dir, 'repo', 'shadow.img')).href, `${pathToFileURL(path.join(dir, 'repo')).href}/%2e%2e/%2e%2e/%2e%2e/etc/shadow`]) {
      const err = await failure(collect(client.deploy({ vm: vm({ disk: { url, sha256: requested, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 } }) })));
      expect(err.code, url).to.equal(status.PERMISSION_DENIED);
      expect(err.details, url).to.contain('images.sources');
      expect((err.details.match(HEX_DIGEST) ?? []).filter((d) => d !== requested), url).to.deep.equal([]);
      if (shadow) expect(err.details).to.not.contain(shadow);
      expect(err.details).to.not.match(/\b\d{2,} bytes\b/);
    }
    const viaPrefetch = await failure(prefetch({ url: 'file:///etc/shadow', sha256: requested, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 }));
    expect(viaPrefetch.code).to.equal(status.PERMISSION_DENIED);
    expect(viaPrefetch.details).to.contain('file:///etc/shadow');
    expect(await traces()).to.deep.equal({ domains: [], dhcpFiles: [], records: [], partials: [] });
  });

  it('refuses an image a repository redirects to a host images.sources does not name, without asking that host', async () => {
    repo.plan({ redirect: elsewhere.url('appliances/disk.img') });
    const err = await failure(collect(client.deploy({ vm: vm({ disk: httpImage() }) })));
    expect(err.code).to.equal(status.PERMISSION_DENIED);
    expect(err.details).to.contain(`redirects to ${elsewhere.url('appliances/disk.img')}`);
    expect(elsewhere.requests).to.have.length(0);
    expect(await traces()).to.deep.equal({ domains: [], dhcpFiles: [], records: [], partials: [] });

    // The same image straight from the allowed repository deploys.
    const ok = await collect(client.deploy({ vm: vm({ disk: httpImage() }) }));
    expect(ok.done?.spec?.disk?.url).to.equal(httpImage().url);
  });

  for (const field of ['ip', 'mac'] as const) {
    it(`refuses the second of two concurrent Deploys with the same ${field.toUpperCase()} with ALREADY_EXISTS naming vm.${field} and the holder; one DHCP reservation`, async () => {
      const first = vm();
      const second = vm({ [field]: first[field] });
      const results = await Promise.allSettled([collect(client.deploy({ vm: first })), collect(client.deploy({ vm: second }))]);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as AgentCallError);
      expect(refused, 'exactly one is refused').to.have.length(1);
      const holder = results[0]!.status === 'fulfilled' ? first : second;
      expect(refused[0]!.code).to.equal(status.ALREADY_EXISTS);
      expect(refused[0]!.details).to.contain(`vm.${field} ${first[field]} is already held by domain vn-${holder.hostname} (hostname ${holder.hostname}`);
      const dhcpFiles = await filesIn('hosts');
      expect(dhcpFiles).to.deep.equal([holder.hostname]);
      const reservations = await Promise.all(dhcpFiles.map((f) => readFile(path.join(dir, 'hosts', f), 'utf8')));
      expect(reservations.filter((text) => text.includes(first[field]))).to.have.length(1);
      expect((await client.listDomains()).domains.map((d) => d.spec?.hostname)).to.deep.equal([holder.hostname]);
    });
  }

  it('fails a sha256 mismatch with FAILED_PRECONDITION, naming only the expected digest, and keeps no partial', async () => {
    const wrong = sha256(Buffer.from('not this image'));
    for (const image of [{ ...fileImage(), sha256: wrong }, { ...httpImage(), sha256: wrong }]) {
      const err = await failure(collect(client.deploy({ vm: vm({ disk: image }) })));
      expect(err.code, image.url).to.equal(status.FAILED_PRECONDITION);
      expect(err.details).to.contain(`does not match the expected sha256 ${wrong}`);
      expect(err.details.match(HEX_DIGEST)).to.deep.equal([wrong]);
      expect(err.details).to.not.contain(String(disk.length));
    }
    expect(await traces()).to.deep.equal({ domains: [], dhcpFiles: [], records: [], partials: [] });
  });

  it('fails a repository serving a truncated image with FAILED_PRECONDITION and keeps no partial', async () => {
    // An image of its own: the one the other tests deploy may already be cached.
    const other = randomBytes(96 * 1024);
    repo.always = { endsAtFileOffset: 40_000 };
    const image = { url: repo.put('appliances/other.img', other), sha256: sha256(other), sizeBytes: 0, peers: [], rateBytesPerSecond: 0 };
    const err = await failure(collect(client.deploy({ vm: vm({ disk: image }) })));
    expect(err.code).to.equal(status.FAILED_PRECONDITION);
    expect(err.details).to.match(/is truncated/);
    expect(err.details.match(HEX_DIGEST) ?? []).to.deep.equal([]);
    expect(await traces()).to.deep.equal({ domains: [], dhcpFiles: [], records: [], partials: [] });
  });

  it('refuses ids and numbers out of bounds with INVALID_ARGUMENT naming the field, changing nothing', async () => {
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['operation_id', () => collect(client.deploy({ operationId: '../../records/x', vm: vm() }))],
      ['vm.disk.size_bytes', () => collect(client.deploy({ vm: vm({ disk: { ...fileImage(), sizeBytes: 2 * 1024 ** 4 } }) }))],
      ['vm.hostname', () => collect(client.deploy({ vm: vm({ hostname: `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}` }) }))],
      ['image.size_bytes', () => prefetch({ ...fileImage(), sizeBytes: 2 * 1024 ** 4 })],
      ['operation_id', () => collect(client.remove({ operationId: 'a b', hostname: 'vwn-trust-001' }))],
      ['shutdown_timeout_s', () => collect(client.remove({ hostname: 'vwn-trust-001', shutdownTimeoutS: 99_999 }))],
    ];
    for (const [field, call] of cases) {
      const err = await failure(call());
      expect(err.code, field).to.equal(status.INVALID_ARGUMENT);
      expect(err.details, field).to.contain(`invalid ${field}`);
    }
    expect(await traces()).to.deep.equal({ domains: [], dhcpFiles: [], records: [], partials: [] });
  });
});

async function collectAll<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}
