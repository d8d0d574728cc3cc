import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { credentials, status } from '@grpc/grpc-js';
import { Agent } from '../../../../agent/agent.js';
import { parseAgentConfig } from '../../../../agent/config.js';
import type { VmSpec } from '../../../../shared/gen/vonode/v1/common.js';
import { silentLogger } from '../../../../shared/logger.js';
import { AgentClient, isAgentCallError, type AgentCallError } from '../../../../shared/rpc/agent-client.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { CannedCoordinatorDouble } from '../../../helpers/coordinator-double.js';
import { collect } from '../../../helpers/deploy-events.js';
import { until } from '../../../../scripts/testbed/lib/wait.js';

/** A loopback address nothing listens on. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

// A real agent (in-process, simulated hypervisor, dnsmasq backend files, real
// image cache, plaintext gRPC) fencing off deposed coordinator leaders: Deploy
// and Remove stamped with a term older than the newest seen are refused with
// FAILED_PRECONDITION and change nothing; the term survives a restart and is
// raised by the coordinator's registration answers.
describe('vonode-agent refuses a deposed coordinator leader\'s Deploy and Remove (real gRPC)', function () {
  this.timeout(60_000);
  let dir: string;
  let agent: Agent | undefined;
  let client: AgentClient | undefined;
  let coordinator: CannedCoordinatorDouble | undefined;
  const disk = randomBytes(64 * 1024);
  let serial = 0;

  const vm = (): VmSpec => {
    const n = ++serial;
    return {
      hostname: `vwn-${String(n).padStart(3, '0')}`, ip: `10.97.0.${10 + n}`, mac: `52:54:00:97:00:${(16 + n).toString(16)}`, vo: 'bio',
      disk: { url: pathToFileURL(path.join(dir, 'repo', 'disk.img')).href, sha256: createHash('sha256').update(disk).digest('hex'), sizeBytes: 0, peers: [], rateBytesPerSecond: 0 },
      kernel: undefined, initrd: undefined, cmdline: '', vcpus: 1, memoryMb: 64,
    };
  };
  const refused = (p: Promise<unknown>): Promise<AgentCallError> =>
    p.then(() => expect.fail('expected the agent to refuse'), (e: unknown) => {
      if (!isAgentCallError(e)) throw e;
      return e;
    });
  const domains = async (): Promise<string[]> => (await client!.listDomains()).domains.map((d) => d.spec?.hostname ?? '').sort();
  const records = async (): Promise<string[]> => (await readdir(path.join(dir, 'state', 'records'))).filter((f) => !f.startsWith('.')).sort();

  /** Starts the agent on the test directory; `coordinator` adds a coordinator section. */
  const startAgent = async (coordinatorSection = ''): Promise<void> => {
    const config = parseAgentConfig(`
listen: 127.0.0.1:0
hostName: phys-fence
stateDir: ${dir}/state
hypervisor: { driver: simulated, simulated: { startDelay: 10ms, bootDelay: 50ms } }
dhcp: { dnsmasq: { hostsDir: ${dir}/hosts, leaseFile: ${dir}/leases } }
deploy: { vmrTimeout: 10s, shutdownTimeout: 1s, memoryReserve: 0 }
images: { sources: ["${pathToFileURL(path.join(dir, 'repo')).href}/"] }
${coordinatorSection}
`);
    agent = new Agent(config, silentLogger(), { insecure: true });
    await agent.start();
    client = new AgentClient(`127.0.0.1:${agent.port}`, credentials.createInsecure());
  };
  const stopAgent = async (): Promise<void> => {
    client?.close();
    client = undefined;
    await agent?.shutdown();
    agent = undefined;
  };

  beforeEach(async () => {
    dir = await tempDir('vonode-fence-');
    await mkdir(path.join(dir, 'repo'));
    await mkdir(path.join(dir, 'hosts'));
    await writeFile(path.join(dir, 'repo', 'disk.img'), disk);
    await writeFile(path.join(dir, 'leases'), '');
  });
  afterEach(async () => {
    await stopAgent();
    await coordinator?.stop();
    coordinator = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a newer term\'s Deploy and Remove, refuses an older term\'s with FAILED_PRECONDITION leaving no trace, and remembers the term across a restart', async () => {
    await startAgent();
    const first = vm();
    const deployed = await collect(client!.deploy({ operationId: 'op-1', vm: first, coordinatorTerm: 57 }));
    expect(deployed.done?.spec?.hostname).to.equal(first.hostname);
    expect(agent!.fence?.term).to.equal(57);

    const stale = vm();
    const deployErr = await refused(collect(client!.deploy({ operationId: 'op-2', vm: stale, coordinatorTerm: 41 })));
    expect(deployErr.code).to.equal(status.FAILED_PRECONDITION);
    expect(deployErr.details).to.equal(
      `Deploy of ${stale.hostname} from a coordinator of term 41, older than term 57 already seen: a deposed leader's request, refused (the current leader will retry it)`,
    );
    const removeErr = await refused(collect(client!.remove({ operationId: 'op-3', hostname: first.hostname, shutdownTimeoutS: 1, coordinatorTerm: 41 })));
    expect(removeErr.code).to.equal(status.FAILED_PRECONDITION);
    expect(removeErr.details).to.match(new RegExp(`^Remove of ${first.hostname} from a coordinator of term 41, older than term 57`));
    expect(await domains()).to.deep.equal([first.hostname]);
    expect(await records()).to.deep.equal([`${first.hostname}.json`]);
    expect(await readdir(path.join(dir, 'hosts'))).to.have.length(1);

    // A restarted agent still knows term 57; a newer leader's Remove runs.
    await stopAgent();
    await startAgent();
    expect(agent!.fence?.term).to.equal(57);
    expect((await refused(collect(client!.remove({ hostname: first.hostname, shutdownTimeoutS: 1, coordinatorTerm: 56 })))).code).to.equal(status.FAILED_PRECONDITION);
    expect((await refused(collect(client!.deploy({ operationId: 'op-4', vm: vm(), coordinatorTerm: 0 })))).details).to.match(/without HA \(term 0\).*delete .*coordinator-term\.json/);
    const removed = await collect(client!.remove({ operationId: 'op-5', hostname: first.hostname, shutdownTimeoutS: 1, coordinatorTerm: 58 }));
    expect(removed.removed?.hostname).to.equal(first.hostname);
    expect(await domains()).to.deep.equal([]);
    expect(agent!.fence?.term).to.equal(58);
  });

  it('admits term 0 from a coordinator without HA while it has seen no HA term', async () => {
    await startAgent();
    const spec = vm();
    await collect(client!.deploy({ operationId: 'op-1', vm: spec }));
    await collect(client!.remove({ operationId: 'op-2', hostname: spec.hostname, shutdownTimeoutS: 1 }));
    expect(agent!.fence?.term).to.equal(0);
  });

  it('raises the fence with the term of the leader it registers with (coordinator.addresses, past a dead one)', async () => {
    coordinator = new CannedCoordinatorDouble();
    coordinator.agentTerm = 70;
    await coordinator.start();
    await startAgent(`coordinator: { addresses: [${await deadAddress()}, ${coordinator.address}], advertise: 127.0.0.1:7070 }`);
    await until('the agent to see term 70', () => agent!.fence?.term === 70, 10_000, 10);
    await until('a heartbeat', () => coordinator!.calls.some((c) => c.method === 'Heartbeat'), 10_000, 10);
    expect(agent!.link?.state).to.equal('registered');
    const err = await refused(collect(client!.deploy({ operationId: 'op-1', vm: vm(), coordinatorTerm: 69 })));
    expect(err.code).to.equal(status.FAILED_PRECONDITION);
  });
});
