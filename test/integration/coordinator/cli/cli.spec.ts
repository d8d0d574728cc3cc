import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ServerCredentials } from '@grpc/grpc-js';
import { ListHostsResponse, ListNodesResponse, StatusResponse } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { CannedCoordinatorDouble, cannedData, deployScript } from '../../../helpers/coordinator-double.js';
import { ROOT, spawnVonode, vonode } from '../../../helpers/run-vonode-cli.js';

const cells = (line: string | undefined): string[] => (line ?? '').trim().split(/\s{2,}/);

// The CLI against a TEST DOUBLE of the coordinator (canned answers over real gRPC), not the real coordinator.
describe('vonode CLI (spawned) against CannedCoordinatorDouble', function () {
  this.timeout(30_000);
  let double: CannedCoordinatorDouble;
  let at: string[];
  before(async () => {
    double = new CannedCoordinatorDouble();
    at = ['--insecure', '--coordinator', await double.start()];
  });
  after(async () => double.stop());

  it('status: summary and one row per VO; --json is the StatusResponse', async () => {
    const r = await vonode([...at, 'status']);
    expect(r.code, r.err).to.equal(0);
    const lines = r.out.split('\n');
    expect(lines[0]).to.match(/^site +ucm {2}\(coordinator 127\.0\.0\.1:\d+, up /);
    expect(lines).to.include.members(['hosts       2 up, 1 down', 'pool        5 free of 8', 'operations  1 queued, 1 running']);
    expect(cells(lines.find((l) => l.startsWith('fusion')))).to.deep.equal(['fusion', '5', '1', '1', '0', '0', '1']);
    const json = await vonode([...at, 'status', '--json']);
    expect(JSON.parse(json.out)).to.deep.equal(StatusResponse.toJSON(cannedData().status));
  });

  it('status: a loud line when the policy file on disk was rejected', async () => {
    double.data.status.policy = { ...double.data.status.policy!, rejectedError: 'vos.bio.max: is 2, below min (3)' };
    try {
      const r = await vonode([...at, 'status']);
      expect(r.code).to.equal(0);
      expect(r.out).to.match(/^!!! POLICY FILE REJECTED: \/etc\/vonode\/policy\.yaml on disk is invalid; the PREVIOUS policy .* is still in force$/m);
      expect(r.out).to.include('!!! vos.bio.max: is 2, below min (3)');
    } finally {
      double.data.status.policy = cannedData().status.policy;
    }
  });

  it('hosts: table and --json', async () => {
    const r = await vonode([...at, 'hosts']);
    expect(r.code, r.err).to.equal(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).to.have.length(4);
    expect(cells(lines[1]).slice(0, 5)).to.deep.equal(['phys01', 'up', '10.0.0.11:7081', 'qemu', '2']);
    expect(cells(lines[3]).slice(0, 2)).to.deep.equal(['phys03', 'down']);
    const json = await vonode([...at, 'hosts', '--json']);
    expect(JSON.parse(json.out)).to.deep.equal(ListHostsResponse.toJSON({ hosts: cannedData().hosts }));
  });

  it('nodes: table, --vo filter sent to the coordinator, and --json', async () => {
    const all = await vonode([...at, 'nodes']);
    expect(all.code, all.err).to.equal(0);
    expect(all.out.trimEnd().split('\n').slice(1).map((l) => cells(l)[0])).to.deep.equal(['vo-bio-01', 'vo-bio-02', 'vo-fusion-01']);
    const fusion = await vonode([...at, 'nodes', '--vo', 'fusion', '--json']);
    expect(double.calls.filter((c) => c.method === 'ListNodes').at(-1)?.request).to.deep.equal({ vo: 'fusion' });
    expect(JSON.parse(fusion.out)).to.deep.equal(ListNodesResponse.toJSON({ nodes: cannedData().nodes.filter((n) => n.vo === 'fusion') }));
  });

  it('deploy (not a TTY): one line per phase end, exit 0 when every node succeeded', async () => {
    const r = await vonode([...at, 'deploy', '--vo', 'bio', '--count', '2', '--host', 'phys02']);
    expect(r.code, r.err).to.equal(0);
    expect(double.calls.filter((c) => c.method === 'DeployNodes').at(-1)?.request).to.deep.equal({ vo: 'bio', count: 2, host: 'phys02' });
    const lines = r.out.trimEnd().split('\n').map((l) => l.replace(/\s+/g, ' '));
    expect(lines.filter((l) => l.startsWith('vo-bio-01'))).to.deep.equal([
      'vo-bio-01 queued (deploy bio, op op-deploy-1)',
      'vo-bio-01 running on phys02',
      'vo-bio-01 CR 0.01 s phys02',
      'vo-bio-01 PT 2.31 s phys02 cache_hit=false',
      'vo-bio-01 DA 0.04 s phys02',
      'vo-bio-01 VMB 0.35 s phys02',
      'vo-bio-01 VMR 3.10 s phys02',
      'vo-bio-01 SR 0.80 s phys02',
      'vo-bio-01 succeeded in 6.61 s',
    ]);
    expect(lines.at(-1)).to.equal('2 of 2 deploy operation(s) succeeded');
    expect(r.out).to.not.include('\u001b[');
  });

  it('deploy: exit 1 with each failed node, its error and a hint', async () => {
    double.data.deployEvents = (req) => deployScript(req, 'vo-bio-02');
    try {
      const r = await vonode([...at, 'deploy', '--vo', 'bio', '--count', '2']);
      expect(r.code).to.equal(1);
      expect(r.out).to.match(/^vo-bio-02 +FAILED in 125\.0 s: no DHCP lease within 120 s$/m);
      expect(r.err).to.include('1 of 2 deploy operation(s) succeeded');
      expect(r.err).to.include('vo-bio-02 (op op-deploy-2) failed on phys01, in VMR, attempt 1: no DHCP lease within 120 s');
      expect(r.err).to.match(/hint: the guest never took its DHCP lease on phys01/);
    } finally {
      double.data.deployEvents = (req) => deployScript(req);
    }
  });

  it('refuses out-of-range numbers before any RPC (exit 2): nothing reaches the coordinator', async () => {
    const calls = double.calls.length;
    for (const argv of [['deploy', '--vo', 'bio', '--count', '99999999999'], ['deploy', '--vo', 'bio', '--count', '1001'], ['timings', '--limit', '10001']]) {
      const r = await vonode([...at, ...argv]);
      expect(r.code, argv.join(' ')).to.equal(2);
      expect(r.err).to.match(/takes a whole number from 1 to (1000|10000), not "/);
    }
    expect(double.calls.length).to.equal(calls);
  });

  it('drain and remove follow their operation to the end', async () => {
    const drain = await vonode([...at, 'drain', 'vo-bio-01']);
    expect(drain.code, drain.err).to.equal(0);
    expect(drain.out).to.match(/^vo-bio-01 +VMD +0\.90 s {2}phys01$/m);
    expect(drain.out).to.include('1 of 1 drain operation(s) succeeded');
    const remove = await vonode([...at, 'remove', 'vo-bio-01']);
    expect(remove.code, remove.err).to.equal(0);
    expect(double.calls.filter((c) => c.method === 'RemoveNode').at(-1)?.request).to.deep.equal({ hostname: 'vo-bio-01' });
  });

  it('timings: Table 2 rows with mean and median; --removals gives Table 3', async () => {
    const r = await vonode([...at, 'timings']);
    expect(r.code, r.err).to.equal(0);
    const lines = r.out.split('\n');
    expect(lines[0]!.split(/\s+/)).to.deep.equal(['NODE', 'HOST', 'VO', 'CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW', 'TOTAL']);
    expect(lines[1]!.split(/\s+/)).to.deep.equal(['vo-bio-01', 'phys01', 'bio', '0.02', '96.8', '4.58', '3.00', '10.7', '1.50', '-', '-', '116.6']);
    expect(lines.some((l) => l.startsWith('median'))).to.equal(true);
    const removals = await vonode([...at, 'timings', '--removals', '--limit', '5']);
    expect(removals.out.split('\n')[0]!.split(/\s+/)).to.deep.equal(['NODE', 'HOST', 'VO', 'OP', 'DRN', 'RC', 'VMD', 'DHR', 'DKR', 'SR', 'TOTAL']);
    expect(double.calls.filter((c) => c.method === 'Timings').at(-1)?.request).to.deep.equal({ limit: 5 });
  });

  it('policy apply: prints every problem of an INVALID_ARGUMENT answer, exit 1', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vonode-cli-'));
    double.data.applyPolicyProblems = 'vos.bio.max: is 2, below min (3)\nvos.fusion.queue: "bio.q" is already the queue of VO bio';
    try {
      await writeFile(path.join(dir, 'p.yaml'), 'vos: {}\n');
      const r = await vonode([...at, 'policy', 'apply', path.join(dir, 'p.yaml')]);
      expect(r.code).to.equal(1);
      expect(r.err).to.match(/refused .*p\.yaml; the policy in force is unchanged/);
      expect(r.err).to.include('  vos.bio.max: is 2, below min (3)');
      expect(r.err).to.include('  vos.fusion.queue: "bio.q" is already the queue of VO bio');
      expect(double.calls.filter((c) => c.method === 'ApplyPolicy').at(-1)?.request).to.deep.equal({ yaml: 'vos: {}\n' });
    } finally {
      delete double.data.applyPolicyProblems;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('health: SERVING with exit 0', async () => {
    const r = await vonode(['--insecure', 'health', at[2]!]);
    expect(r).to.deep.include({ code: 0, out: 'SERVING\n' });
  });

  it('events --json: one JSON object per line until Ctrl-C, then exit 0', async () => {
    double.data.watchEvents = deployScript({ vo: 'bio', count: 1, host: '' }).slice(0, 4);
    const child = spawnVonode([...at, 'events', '--json']);
    let out = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').length > 4) child.kill('SIGINT');
      });
      child.on('close', resolve);
    });
    expect(code).to.equal(0);
    const events = out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);
    expect(events[0]!['operation']).to.include({ id: 'op-deploy-1', state: 'OPERATION_STATE_QUEUED' });
    expect(events[3]!['phase']).to.include({ phase: 'PHASE_CR', edge: 'EDGE_END' });
  });
});

describe('vonode CLI (spawned): connection failures and offline policy check', function () {
  this.timeout(30_000);

  it('says how to fix an unreachable coordinator, exit 1', async () => {
    const closed = new CannedCoordinatorDouble();
    const address = await closed.start();
    await closed.stop();
    const r = await vonode(['status', '--insecure'], { VONODE_COORDINATOR: address });
    expect(r.code).to.equal(1);
    expect(r.err).to.include(`vonode: cannot reach the coordinator at ${address}: is vonode-coordinator running? check --coordinator / VONODE_COORDINATOR`);
  });

  it('refuses plaintext without --insecure, exit 2', async () => {
    const r = await vonode(['hosts']);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/no TLS configured .* pass --ca, --cert and --key .* or --insecure/);
  });

  it('policy check: exit 0 for a good file, exit 1 naming each bad field', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vonode-cli-'));
    try {
      const sha = 'cd'.repeat(32);
      const disk = (name: string): string => `disk: { url: "http://repo/${name}.qcow2", sha256: "${sha}" }`;
      await writeFile(path.join(dir, 'good.yaml'), `vos:\n  bio: { weight: 2, max: 4, queue: bio.q, appliance: { ${disk('bio')} } }\n  fusion: { weight: 5, max: 3, queue: fusion.q, appliance: { ${disk('f')} } }\n`);
      await writeFile(
        path.join(dir, 'bad.yaml'),
        `vos:\n  bio: { weight: -1, min: 3, max: 2, queue: bio.q, colour: blue, appliance: { disk: { url: "ftp://x/y", sha256: "xyz" } } }\n  fusion: { max: 1, queue: bio.q, appliance: { ${disk('f')} } }\n`,
      );
      const good = await vonode(['policy', 'check', path.join(dir, 'good.yaml')]);
      expect(good.code, good.err).to.equal(0);
      expect(good.out).to.match(/good\.yaml: OK, 2 VOs: bio .*, fusion /);
      const bad = await vonode(['policy', 'check', path.join(dir, 'bad.yaml')]);
      expect(bad.code).to.equal(1);
      for (const field of ['vos.bio.weight', 'vos.bio.max', 'vos.bio.colour', 'vos.bio.appliance.disk.url', 'vos.bio.appliance.disk.sha256', 'vos.fusion.queue']) {
        expect(bad.err).to.match(new RegExp(`^ {2}${field.replaceAll('.', '\\.')}: `, 'm'), field);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('vonode CLI (spawned) over mutual TLS', function () {
  this.timeout(30_000);
  let dir: string;
  let double: CannedCoordinatorDouble;
  let address: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vonode-cli-pki-'));
    const pki = path.join(ROOT, 'scripts/pki/make-site-pki.sh');
    await promisify(execFile)(pki, [path.join(dir, 'site'), '--role', 'coordinator', 'coordinator:DNS:localhost,IP:127.0.0.1', '--role', 'admin', 'admin']);
    await promisify(execFile)(pki, [path.join(dir, 'other'), '--role', 'admin', 'intruder']);
    const file = (name: string): Promise<Buffer> => readFile(path.join(dir, 'site', name));
    double = new CannedCoordinatorDouble();
    address = await double.start(
      ServerCredentials.createSsl(await file('ca.pem'), [{ cert_chain: await file('coordinator.pem'), private_key: await file('coordinator-key.pem') }], true),
    );
  });
  after(async () => {
    await double?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('talks to the coordinator with the site CA and a client pair from the environment', async () => {
    const site = path.join(dir, 'site');
    const r = await vonode(['hosts'], { VONODE_COORDINATOR: address, VONODE_TLS_CA: `${site}/ca.pem`, VONODE_TLS_CERT: `${site}/admin.pem`, VONODE_TLS_KEY: `${site}/admin-key.pem` });
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/^phys01 +up/m);
    expect(r.err).to.equal('');
  });

  it('gives the certificate hint when the client pair is not from the site CA', async () => {
    const other = path.join(dir, 'other');
    const r = await vonode(['--coordinator', address, '--ca', `${dir}/site/ca.pem`, '--cert', `${other}/intruder.pem`, '--key', `${other}/intruder-key.pem`, 'status']);
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/TLS handshake failed|TLS with/);
    expect(r.err).to.include('--cert/--key a client pair signed by the same CA');
  });

  it('tells a plaintext client that the coordinator wants TLS', async () => {
    const r = await vonode(['--coordinator', address, '--insecure', 'status']);
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/requires mutual TLS: pass --ca, --cert and --key/);
  });
});
