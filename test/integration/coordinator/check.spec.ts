import { expect } from 'chai';
import { access, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { tempDir } from '../../helpers/agent-fakes.js';
import { listTree, runDaemonEntry } from '../../helpers/run-daemon-check.js';
import { issueTestCertificate, type CertPair } from '../../helpers/test-pki.js';

const SHA = 'ab'.repeat(32);
const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** A policy with one VO; `vm` overrides its VM section. */
const policy = (vm: Record<string, unknown> = {}): string =>
  stringify({ vos: { bio: { max: 2, queue: 'bio.q', vm: { memory: '512MiB', ...vm }, appliance: { disk: { url: 'http://repo/bio.qcow2', sha256: SHA } } } } });

// `vonode-coordinator --check` as an operator runs it: the real entry point in its own process.
describe('vonode-coordinator --check (real process)', function () {
  this.timeout(60_000);
  let dir: string;
  let stateDir: string;
  let stateDb: string;
  let ca: CertPair;
  let own: CertPair;
  before(async () => {
    dir = await tempDir('vonode-coordinator-check-');
    ca = issueTestCertificate(dir, 'ca');
    own = issueTestCertificate(dir, 'coordinator', ca, 'URI:urn:vonode:role:coordinator,DNS:localhost');
  });
  beforeEach(() => {
    stateDir = path.join(dir, 'state');
    stateDb = path.join(stateDir, 'state.db');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Writes the policy and a config using it (plus `extra` fields); returns the config file. */
  async function config(policyText: string, extra: Record<string, unknown> = {}): Promise<string> {
    await writeFile(path.join(dir, 'policy.yaml'), policyText);
    const file = path.join(dir, 'coordinator.yaml');
    await writeFile(file, stringify({
      stateDb, policyFile: path.join(dir, 'policy.yaml'),
      pool: [{ hostname: 'vwn-001', ip: '10.1.0.11', mac: '52:54:00:01:00:11' }],
      tls: { ca: ca.cert, cert: own.cert, key: own.key }, ...extra,
    }));
    return file;
  }

  afterEach(async () => {
    // Neither --check nor a refused start may leave the state database (or its directory) behind.
    expect(await exists(stateDb), `${stateDb} was created`).to.equal(false);
    expect(await exists(stateDir), `${stateDir} was created`).to.equal(false);
  });

  it('says FILE: OK (exit 0) for a good config, policy and TLS files, creating nothing', async () => {
    const file = await config(policy());
    const before = await listTree(dir);
    const r = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check']);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.equal(`${file}: OK\n`);
    expect(await listTree(dir)).to.deep.equal(before);
  });

  it('exits 2 naming the policy problem when policyFile is invalid, and the real start refuses it the same way', async () => {
    const file = await config(policy({ memory: '99999999TiB' }));
    const r = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.out).to.equal('');
    expect(r.err).to.include(`${file}: vonode-coordinator would not start, 1 problem:`);
    expect(r.err).to.match(/ {2}- policyFile: .*policy\.yaml: vos\.bio\.vm\.memory: "99999999TiB" is too large .*: it must be from 64MiB to 4TiB/);
    const started = await runDaemonEntry('coordinator/main.ts', ['--config', file]);
    expect(started.code).to.equal(2);
    expect(started.err).to.match(/vos\.bio\.vm\.memory: "99999999TiB" is too large/);
  });

  it('exits 2 for a policy file that does not exist, saying so', async () => {
    const file = await config(policy());
    await rm(path.join(dir, 'policy.yaml'));
    const r = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/policyFile: .*policy\.yaml: \(file\): cannot read .*policy\.yaml: ENOENT.*check the path/);
  });

  it('lists every problem at once: unreadable TLS files, a state database under a file, missing batch programs', async () => {
    const file = await config(policy(), {
      stateDb: path.join(dir, 'ca.pem/state.db'),
      tls: { ca: ca.cert, cert: path.join(dir, 'missing.pem'), key: own.key },
      batchSystem: { kind: 'slurm', slurm: { binDir: path.join(dir, 'no-bin') } },
    });
    const r = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/would not start, 5 problems:/);
    expect(r.err).to.match(/ {2}- tls\.cert: cannot read .*missing\.pem: ENOENT; check the path and its permissions/);
    expect(r.err).to.match(/ {2}- stateDb: .*ca\.pem is not a directory, so .*ca\.pem cannot be one; fix the path/);
    for (const program of ['scontrol', 'squeue', 'sinfo']) {
      expect(r.err).to.match(new RegExp(` {2}- batchSystem\\.slurm\\.binDir: .*no-bin/${program} is not an executable file; set batchSystem\\.slurm\\.binDir`));
    }
  });

  it('checks the certificate\'s role as the start does: an agent certificate is refused', async () => {
    const agent = issueTestCertificate(dir, 'phys-01', ca, 'URI:urn:vonode:role:agent,DNS:localhost');
    const file = await config(policy(), { tls: { ca: ca.cert, cert: agent.cert, key: agent.key } });
    const r = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/ {2}- tls\.cert: .*phys-01\.pem is .*; this daemon needs a coordinator certificate \(scripts\/pki\/make-site-pki\.sh DIR --role coordinator NAME\)/);
  });

  it('wants TLS unless --insecure', async () => {
    const file = await config(policy(), { tls: undefined });
    const r = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/ {2}- tls: is not configured: add tls\.ca, tls\.cert and tls\.key .* or pass --insecure/);
    const insecure = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check', '--insecure']);
    expect(insecure.code, insecure.err).to.equal(0);
  });

  it('still refuses an invalid config file itself with exit 2, naming the field', async () => {
    const file = await config(policy(), { deploy: { maxAttempts: 0 } });
    const r = await runDaemonEntry('coordinator/main.ts', ['--config', file, '--check']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/deploy\.maxAttempts: must be a whole number from 1 to 100/);
  });
});
