import { expect } from 'chai';
import { access, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { tempDir } from '../../helpers/agent-fakes.js';
import { listTree, runDaemonEntry } from '../../helpers/run-daemon-check.js';
import { issueTestCertificate, type CertPair } from '../../helpers/test-pki.js';

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

// `vonode-agent --check` as an operator runs it: the real entry point in its own process.
describe('vonode-agent --check (real process)', function () {
  this.timeout(60_000);
  let dir: string;
  let stateDir: string;
  let ca: CertPair;
  let own: CertPair;
  before(async () => {
    dir = await tempDir('vonode-agent-check-');
    stateDir = path.join(dir, 'var/lib/vonode-agent');
    ca = issueTestCertificate(dir, 'ca');
    own = issueTestCertificate(dir, 'phys-01', ca, 'URI:urn:vonode:role:agent,DNS:localhost');
  });
  after(() => rm(dir, { recursive: true, force: true }));
  afterEach(async () => {
    // --check writes nothing: not the state directory, not the DHCP hosts directory.
    expect(await exists(path.join(dir, 'var')), 'the state directory was created').to.equal(false);
  });

  /** Writes an agent config: the simulated driver, dnsmasq files under the (missing) state directory, TLS; `extra` overrides. */
  async function config(extra: Record<string, unknown> = {}): Promise<string> {
    const file = path.join(dir, 'agent.yaml');
    await writeFile(file, stringify({
      listen: '127.0.0.1:0', hostName: 'phys-01', stateDir,
      hypervisor: { driver: 'simulated' },
      dhcp: { backend: 'dnsmasq', dnsmasq: { hostsDir: path.join(stateDir, 'dhcp-hosts'), leaseFile: path.join(stateDir, 'dnsmasq.leases') } },
      coordinator: { address: '127.0.0.1:7080', advertise: '127.0.0.1:7070' },
      tls: { ca: ca.cert, cert: own.cert, key: own.key },
      ...extra,
    }));
    return file;
  }

  it('says FILE: OK (exit 0) when the directories can be made and the TLS files fit, creating nothing', async () => {
    const file = await config();
    const before = await listTree(dir);
    const r = await runDaemonEntry('agent/main.ts', ['--config', file, '--check']);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.equal(`${file}: OK\n`);
    expect(await listTree(dir)).to.deep.equal(before);
  });

  it('exits 2 listing every problem: a state directory under a file, a missing hypervisor, a certificate of another host', async () => {
    const other = issueTestCertificate(dir, 'phys-02', ca, 'URI:urn:vonode:role:agent,DNS:localhost');
    const file = await config({
      stateDir: path.join(dir, 'ca.pem/state'),
      hypervisor: { driver: 'qemu', qemu: { binary: 'no-such-qemu-system' } },
      tls: { ca: ca.cert, cert: other.cert, key: other.key },
    });
    const r = await runDaemonEntry('agent/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.out).to.equal('');
    expect(r.err).to.match(/vonode-agent would not start, \d+ problems:/);
    expect(r.err).to.match(/ {2}- stateDir: .*ca\.pem is not a directory, so .*ca\.pem\/state cannot be one; fix the path/);
    expect(r.err).to.match(/ {2}- hypervisor\.qemu\.binary: no-such-qemu-system is not on PATH; install qemu-system-x86 or set hypervisor\.qemu\.binary/);
    expect(r.err).to.match(/ {2}- tls\.cert: .*phys-02\.pem names 'phys-02' but this agent registers as 'phys-01'/);
  });

  it('wants TLS unless --insecure, and a hostName the coordinator accepts', async () => {
    const file = await config({ tls: undefined, hostName: 'Phys_01' });
    const r = await runDaemonEntry('agent/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/ {2}- tls: is not configured: .* or pass --insecure/);
    expect(r.err).to.match(/ {2}- hostName: "Phys_01" is not a hostname .*; the coordinator would refuse it: set hostName/);
    const insecure = await runDaemonEntry('agent/main.ts', ['--config', await config({ tls: undefined }), '--check', '--insecure']);
    expect(insecure.code, insecure.err).to.equal(0);
  });
});
