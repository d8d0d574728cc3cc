import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { credentials, status } from '@grpc/grpc-js';
import { Agent } from '../../../../../agent/agent.js';
import { parseAgentConfig, type AgentConfig } from '../../../../../agent/config.js';
import { SimulatedDriver } from '../../../../../agent/hypervisor/simulated/simulated-driver.js';
import { systemClock } from '../../../../../shared/clock.js';
import { DomainState, type VmSpec } from '../../../../../shared/gen/vonode/v1/common.js';
import { silentLogger } from '../../../../../shared/logger.js';
import { AgentClient, isAgentCallError } from '../../../../../shared/rpc/agent-client.js';
import { tempDir } from '../../../../helpers/agent-fakes.js';
import { collect } from '../../../../helpers/deploy-events.js';
import { RecordingCoordinatorDouble } from '../../../../helpers/recording-coordinator-double.js';

/** Files in a directory, dotfiles (atomic-write temps) excluded; [] if it does not exist. */
const filesIn = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).filter((f) => !f.startsWith('.'));

/** A temp dir with an image repository (file:// URL, right sha256), a hosts dir and a lease file; no dnsmasq runs. */
async function site(prefix: string): Promise<{ dir: string; image: { url: string; sha256: string } }> {
  const dir = await tempDir(prefix);
  const bytes = randomBytes(256 * 1024);
  await mkdir(path.join(dir, 'repo'));
  await mkdir(path.join(dir, 'hosts'));
  await writeFile(path.join(dir, 'repo', 'disk.img'), bytes);
  await writeFile(path.join(dir, 'leases'), '');
  return { dir, image: { url: pathToFileURL(path.join(dir, 'repo', 'disk.img')).href, sha256: createHash('sha256').update(bytes).digest('hex') } };
}

function agentConfig(dir: string, extra = '', simulated = ''): AgentConfig {
  return parseAgentConfig(`
listen: 127.0.0.1:0
hostName: sim-host-1
stateDir: ${dir}/state
hypervisor: { driver: simulated, simulated: { startDelay: 20ms, bootDelay: 100ms ${simulated} } }
dhcp: { dnsmasq: { hostsDir: ${dir}/hosts, leaseFile: ${dir}/leases } }
deploy: { vmrTimeout: 10s, shutdownTimeout: 2s, memoryReserve: 0 }
images: { sources: ["${pathToFileURL(path.join(dir, 'repo')).href}/"] }
${extra}`);
}

// The REAL agent (in-process, --insecure on 127.0.0.1:0) with the simulated
// driver and the real dnsmasq backend (hosts files + chokidar on the lease
// file, no dnsmasq process), driven through AgentClient.
describe('simulated hypervisor in a real agent (boots nothing; for coordinator tests and benchmarks)', function () {
  this.timeout(30_000);
  let dir: string;
  let image: { url: string; sha256: string };
  let agent: Agent;
  let client: AgentClient;
  const double = new RecordingCoordinatorDouble();

  const vm = (n: number): VmSpec => ({
    hostname: `vwn-sim-00${n}`, ip: `10.99.0.${10 + n}`, mac: `52:54:00:99:00:0${n}`, vo: 'bio',
    disk: { ...image, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 }, kernel: undefined, initrd: undefined, cmdline: '', vcpus: 1, memoryMb: 64,
  });

  const startAgent = async (): Promise<void> => {
    agent = new Agent(agentConfig(dir, `coordinator: { address: 127.0.0.1:${double.port}, advertise: 127.0.0.1:7999 }`), silentLogger(), { insecure: true });
    await agent.start();
    client = new AgentClient(`127.0.0.1:${agent.port}`, credentials.createInsecure());
  };

  before(async () => {
    ({ dir, image } = await site('vonode-sim-'));
    await double.start();
    await startAgent();
  });
  after(async () => {
    client?.close();
    await agent?.shutdown();
    await double.stop();
  });

  it('deploys: phases CR..VMR stream in order and VMR ends with the reservation IP', async () => {
    const r = await collect(client.deploy({ operationId: 'op-sim-1', vm: vm(1) }));
    expect(r.marks.map((m) => `${m.phase}:${m.edge}`)).to.deep.equal(
      ['CR', 'PT', 'DA', 'VMB', 'VMR'].flatMap((p) => [`${p}:start`, `${p}:end`]),
    );
    expect(r.marks.every((m) => m.operationId === 'op-sim-1')).to.equal(true);
    const vmr = r.marks.find((m) => m.phase === 'VMR' && m.edge === 'end')!;
    expect(vmr.details['ip']).to.equal('10.99.0.11');
    expect(vmr.durationMs).to.be.at.least(90); // bootDelay
    expect(r.done).to.include({ name: 'vn-vwn-sim-001', driver: 'simulated', leasedIp: '10.99.0.11', state: DomainState.DOMAIN_STATE_RUNNING });
    expect(await readFile(path.join(dir, 'hosts', 'vwn-sim-001'), 'utf8')).to.equal('52:54:00:99:00:01,10.99.0.11,vwn-sim-001\n');
    expect(await readFile(path.join(dir, 'leases'), 'utf8')).to.match(/^\d+ 52:54:00:99:00:01 10\.99\.0\.11 vwn-sim-001 \*\n$/);
    expect(await filesIn(path.join(dir, 'state', 'instances'))).to.deep.equal(['vn-vwn-sim-001.qcow2']);
    const facts = await client.hostFacts();
    expect(facts).to.include({ hypervisor: 'simulated', runningDomains: 1 });
  });

  it('registers with the coordinator and, after a restart, recovers the domain and reports it', async () => {
    await double.waitFor('first registration', () => double.registrations.length === 1);
    expect(double.registrations[0]!.request).to.include({ hostName: 'sim-host-1', address: '127.0.0.1:7999' });
    client.close();
    await agent.shutdown();
    await startAgent();
    expect(agent.recovery?.kept).to.deep.equal(['vwn-sim-001']);
    const listed = await client.listDomains();
    expect(listed.domains.map((d) => [d.name, d.state])).to.deep.equal([['vn-vwn-sim-001', DomainState.DOMAIN_STATE_RUNNING]]);
    await double.waitFor('second registration', () => double.registrations.length === 2);
    const reg = double.registrations[1]!.request;
    expect(reg.facts?.hypervisor).to.equal('simulated');
    expect(reg.domains.map((d) => d.leasedIp)).to.deep.equal(['10.99.0.11']);
  });

  it('removes: no domain, hosts file, overlay or record is left', async () => {
    const r = await collect(client.remove({ hostname: 'vwn-sim-001', shutdownTimeoutS: 2 }));
    expect(r.removed).to.include({ hostname: 'vwn-sim-001', wasRunning: true, destroyed: false });
    expect((await client.listDomains()).domains).to.deep.equal([]);
    for (const sub of ['hosts', 'state/instances', 'state/records', 'state/run', 'state/run/simulated']) {
      expect(await filesIn(path.join(dir, sub)), sub).to.deep.equal(sub === 'state/run' ? ['simulated'] : []);
    }
  });

  it('redeploys the same pool triple: the new lease, not the old line, ends VMR', async () => {
    const r = await collect(client.deploy({ vm: vm(1) }));
    expect(r.done?.leasedIp).to.equal('10.99.0.11');
    const lines = (await readFile(path.join(dir, 'leases'), 'utf8')).trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.not.equal(lines[1]);
    await collect(client.remove({ hostname: 'vwn-sim-001' }));
  });

  it('with failStart, Deploy fails UNAVAILABLE and leaves no hosts file, overlay or domain', async () => {
    const other = await site('vonode-sim-fail-');
    const failing = new Agent(agentConfig(other.dir, '', ', failStart: true'), silentLogger(), { insecure: true });
    await failing.start();
    const c = new AgentClient(`127.0.0.1:${failing.port}`, credentials.createInsecure());
    try {
      let err: unknown;
      await collect(c.deploy({ vm: { ...vm(2), disk: { ...other.image, sizeBytes: 0, peers: [], rateBytesPerSecond: 0 } } })).catch((e: unknown) => (err = e));
      expect(isAgentCallError(err) && err.code, String(err)).to.equal(status.UNAVAILABLE);
      expect((err as Error).message).to.contain('failStart');
      expect((await c.listDomains()).domains).to.deep.equal([]);
      for (const sub of ['hosts', 'state/instances', 'state/records', 'state/run/simulated']) {
        expect(await filesIn(path.join(other.dir, sub)), sub).to.deep.equal([]);
      }
    } finally {
      c.close();
      await failing.shutdown();
    }
  });
});

describe('SimulatedDriver on its own', () => {
  let dir: string;
  const config = (n: number) => ({
    name: `vn-vwn-sim-01${n}`, hostname: `vwn-sim-01${n}`, mac: `52:54:00:99:01:0${n}`, ip: `10.99.1.${n}`, vcpus: 1, memoryMb: 64,
    diskPath: '/nonexistent.qcow2', diskFormat: 'qcow2' as const, runDir: '/nonexistent',
  });
  const driver = (extra: { bootDelayMs?: number } = {}) => new SimulatedDriver({ runRoot: dir, leaseFile: path.join(dir, 'leases'), startDelayMs: 5, bootDelayMs: 50, ...extra });
  beforeEach(async () => {
    dir = await tempDir('vonode-simdrv-');
  });

  it('keeps domains across driver instances; shutdown marks them shut down; destroy is idempotent', async () => {
    const a = driver();
    await a.start(config(1));
    await a.close();
    const b = driver();
    expect(await b.list()).to.deep.equal([{ name: 'vn-vwn-sim-011', state: 'running' }]);
    expect(await b.shutdown('vn-vwn-sim-011', 1000)).to.equal(true);
    expect(await b.list()).to.deep.equal([{ name: 'vn-vwn-sim-011', state: 'shutdown' }]);
    await b.destroy('vn-vwn-sim-011');
    await b.destroy('vn-vwn-sim-011');
    expect(await b.list()).to.deep.equal([]);
  });

  it('close() cancels pending boots: no lease is written afterwards', async () => {
    const d = driver({ bootDelayMs: 100 });
    await d.start(config(2));
    await d.close();
    await systemClock.sleep(200);
    expect(await readFile(path.join(dir, 'leases'), 'utf8').catch(() => '')).to.equal('');
  });
});
