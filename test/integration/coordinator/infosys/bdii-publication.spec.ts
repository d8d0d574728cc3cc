import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HostState, OperationState, type CoordinatorEvent } from '../../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { ldapsearch, startBdii, stopBdii, type RunningBdii } from '../../../helpers/bdii-testbed.js';
import { dnKey, parseLdif, single, type ParsedEntry } from '../../../helpers/ldif-parser.js';
import { ROOT, vonode } from '../../../helpers/run-vonode-cli.js';
import { freePort } from '../../../../scripts/testbed/lib/free-port.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';

// A REAL coordinator and agents (simulated hypervisor), a REAL BDII (Debian
// bdii 6.0.0 + slapd, scripts/testbed/bdii.sh) whose provider is
// scripts/bdii/vonode-provider running the real `vonode glue2 --glue13` as
// user openldap with the site's `cli` certificate. What brokers see is read
// back with the real ldapsearch.

const exec = promisify(execFile);
const BREATHE_S = 1;
const GLUE2 = 'GLUE2GroupID=resource,o=glue';
const GLUE13 = 'mds-vo-name=local,o=grid';

/** What the BDII says about the bio VO right now. */
interface BioView {
  freeSlots?: number;
  totalJobs?: number;
  instances?: number;
  ceFreeCpus?: number;
  ceTotalCpus?: number;
}

async function bioView(uri: string): Promise<BioView> {
  const g2 = await ldapsearch(uri, GLUE2, '(|(objectClass=GLUE2ComputingShare)(objectClass=GLUE2ExecutionEnvironment))');
  const share = g2.find((e) => e.attrs.get('glue2computingsharemappingqueue')?.[0] === 'bio.q');
  const env = share && g2.find((e) => e.attrs.get('glue2resourceid')?.[0] === single(share, 'GLUE2ComputingShareExecutionEnvironmentForeignKey'));
  const [ce] = await ldapsearch(uri, GLUE13, '(&(objectClass=GlueCE)(GlueCEAccessControlBaseRule=VO:bio))', ['GlueCEStateFreeCPUs', 'GlueCEInfoTotalCPUs']);
  const num = (e: ParsedEntry | undefined, a: string): number | undefined => (e?.attrs.has(a.toLowerCase()) ? Number(single(e, a)) : undefined);
  return {
    freeSlots: num(share, 'GLUE2ComputingShareFreeSlots'),
    totalJobs: num(share, 'GLUE2ComputingShareTotalJobs'),
    instances: num(env, 'GLUE2ExecutionEnvironmentTotalInstances'),
    ceFreeCpus: num(ce, 'GlueCEStateFreeCPUs'),
    ceTotalCpus: num(ce, 'GlueCEInfoTotalCPUs'),
  };
}

/** Polls the BDII every 50 ms until `done` holds; returns the view and when (Date.now()) it was first seen. */
async function waitForView(uri: string, what: string, done: (v: BioView) => boolean, timeoutMs = 60_000): Promise<{ view: BioView; atMs: number }> {
  const deadline = Date.now() + timeoutMs;
  let last: BioView = {};
  for (;;) {
    last = await bioView(uri).catch(() => last);
    if (done(last)) return { view: last, atMs: Date.now() };
    if (Date.now() > deadline) throw new Error(`timed out waiting for the BDII to show ${what}; last seen ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Unix ms of every operation's SUCCEEDED event in a stream, in order; throws if one failed. */
async function succeededAt(stream: AsyncIterable<CoordinatorEvent>): Promise<number[]> {
  const at: number[] = [];
  for await (const e of stream) {
    if (e.event?.$case !== 'operation') continue;
    if (e.event.value.state === OperationState.OPERATION_STATE_FAILED) throw new Error(`operation failed: ${e.event.value.error}`);
    if (e.event.value.state === OperationState.OPERATION_STATE_SUCCEEDED) at.push(e.unixMs);
  }
  return at;
}

describe('BDII publication of a real site (coordinator + agents + BDII, vonode-provider)', function () {
  this.timeout(300_000);
  let site: TestSite;
  let bdiiPort = 0;
  let client: CoordinatorClient | undefined;
  let bdii: RunningBdii | undefined;
  let bdiiDir = '';
  let providerDir = '';
  let cliEnv: Record<string, string> = {};
  const pub: string[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) this.skip(); // slapd and the updater run as openldap, started by root
    // The coordinator's PUB phase polls this BDII: it ends when ldapsearch shows the new node.
    bdiiPort = await freePort();
    site = new TestSite({ agents: [{ name: 'phys-a' }, { name: 'phys-b' }], poolSize: 6, coordinator: { infosys: { ldapUrl: `ldap://127.0.0.1:${bdiiPort}` } } });
    await site.start();
    client = site.client();
    for (let i = 0; (await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length < 2; i++) {
      if (i > 200) throw new Error(`agents did not come up\n${site.recentLogs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    cliEnv = {
      VONODE_COORDINATOR: `127.0.0.1:${site.coordinatorPort}`,
      VONODE_TLS_CA: path.join(site.pki, 'ca.pem'),
      VONODE_TLS_CERT: path.join(site.pki, 'infosys.pem'),
      VONODE_TLS_KEY: path.join(site.pki, 'infosys-key.pem'),
    };
    // The provider runs as openldap: its config and the infosys certificate must be readable by it,
    // as an operator would install them (/etc/vonode/…), here in a private dir.
    providerDir = await tempDir('vonode-bdii-provider-');
    await exec('chmod', ['755', providerDir]);
    for (const f of ['ca.pem', 'infosys.pem', 'infosys-key.pem']) {
      await exec('install', ['-o', 'openldap', '-m', f.endsWith('key.pem') ? '400' : '444', path.join(site.pki, f), path.join(providerDir, f)]);
    }
    const conf = path.join(providerDir, 'provider.conf');
    await writeFile(conf, [
      '# vonode-provider config of the integration test',
      `VONODE_COORDINATOR=127.0.0.1:${site.coordinatorPort}`,
      `VONODE_TLS_CA=${providerDir}/ca.pem`,
      `VONODE_TLS_CERT=${providerDir}/infosys.pem`,
      `VONODE_TLS_KEY=${providerDir}/infosys-key.pem`,
      'VONODE_GLUE_ARGS=--glue13 --timeout 20',
      '',
    ].join('\n'), { mode: 0o644 });
    bdiiDir = await tempDir('vonode-bdii-');
    bdii = await startBdii(bdiiDir, {
      port: bdiiPort,
      breatheS: BREATHE_S,
      provider: `'${path.join(ROOT, 'scripts/bdii/vonode-provider')}' '${conf}'`,
    });
  });

  after(async () => {
    if (pub.length) console.log(`      PUB with BDII_BREATHE_TIME=${BREATHE_S}s:\n${pub.map((l) => `        ${l}`).join('\n')}`);
    if (bdii) await stopBdii(bdii);
    client?.close();
    await site?.stop();
    for (const d of [bdiiDir, providerDir, site?.dir]) if (d) await rm(d, { recursive: true, force: true });
  });

  const bdiiLog = async (): Promise<string> => (await readFile(path.join(bdiiDir, 'log/bdii-update.log'), 'utf8').catch(() => '')).slice(-3000);

  it('publishes the bio share with no nodes: 0 free slots, 0 jobs, 0 instances (GLUE 2.0 and 1.3)', async () => {
    const { view } = await waitForView(bdii!.uri, 'the bio share', (v) => v.freeSlots !== undefined && v.ceFreeCpus !== undefined, 30_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\nbdii-update.log:\n${await bdiiLog()}`);
    });
    expect(view).to.deep.equal({ freeSlots: 0, totalJobs: 0, instances: 0, ceFreeCpus: 0, ceTotalCpus: 0 });
    // The query of the issue, verbatim: the share maps VO bio to bio.q.
    const { stdout } = await exec('ldapsearch', ['-x', '-LLL', '-o', 'ldif-wrap=no', '-H', bdii!.uri, '-b', GLUE2, '(objectClass=GLUE2ComputingShare)']);
    const shares = parseLdif(stdout);
    expect(shares.map((s) => single(s, 'GLUE2ComputingShareMappingQueue')).sort()).to.deep.equal(['bio.q', 'fusion.q']);
    const [policy] = await ldapsearch(bdii!.uri, GLUE2, '(&(objectClass=GLUE2MappingPolicy)(GLUE2PolicyRule=VO:bio))');
    expect(single(policy!, 'GLUE2MappingPolicyShareForeignKey')).to.equal(single(shares.find((s) => single(s, 'GLUE2ComputingShareMappingQueue') === 'bio.q')!, 'GLUE2ShareID'));
  });

  it('holds exactly what `vonode glue2 --glue13` prints, every entry accepted by slapd (and by slapadd -u against the GLUE schemas)', async () => {
    const cli = await vonode(['glue2', '--glue13'], cliEnv);
    expect(cli.code, cli.err).to.equal(0);
    const printed = parseLdif(cli.out);
    const published = [...(await ldapsearch(bdii!.uri, GLUE2, '(objectClass=*)')), ...(await ldapsearch(bdii!.uri, GLUE13, '(objectClass=*)'))];
    const byDn = new Map(published.map((e) => [dnKey(e.dn), e]));
    for (const e of printed) {
      const got = byDn.get(dnKey(e.dn));
      expect(got, `${e.dn} is not in the BDII\nbdii-update.log:\n${await bdiiLog()}`).to.not.equal(undefined);
      expect(Object.fromEntries(got!.attrs), e.dn).to.deep.equal(Object.fromEntries(e.attrs));
    }
    // Besides ours, only the tree's roots from bdii's default.ldif.
    expect(published.length - printed.length).to.equal(2);
    // Schema validity on its own, with the real slapadd in dry-run mode over a scratch copy of the BDII's slapd.conf.
    const scratch = path.join(bdiiDir, 'slapadd-check');
    await mkdir(path.join(scratch, 'glue'), { recursive: true });
    await mkdir(path.join(scratch, 'grid'), { recursive: true });
    await mkdir(path.join(scratch, 'stats'), { recursive: true });
    const conf = (await readFile(path.join(bdiiDir, 'slapd.conf'), 'utf8')).replaceAll(`${bdiiDir}/db/`, `${scratch}/`).replaceAll(`${bdiiDir}/run/`, `${scratch}/`);
    await writeFile(path.join(scratch, 'slapd.conf'), conf);
    const blocks = cli.out.split('\n\n').filter((b) => b.trim());
    for (const [suffix, base] of [[GLUE2, 'o=glue'], [GLUE13, 'o=grid']] as const) {
      const file = path.join(scratch, `${base}.ldif`);
      const mine = blocks.filter((b) => b.split('\n')[0]!.endsWith(suffix));
      await writeFile(file, `${mine.join('\n\n')}\n`);
      const res = await exec('slapadd', ['-u', '-v', '-f', path.join(scratch, 'slapd.conf'), '-b', base, '-l', file]).catch((e: Error & { stderr?: string }) => {
        throw new Error(`slapadd -u refused the ${base} entries: ${e.stderr ?? e.message}`);
      });
      expect(res.stderr.match(/^added: /gm), `slapadd -u ${base}: ${res.stderr}`).to.have.length(mine.length);
    }
  });

  it('follows the nodes: after deploying 2 bio nodes the share shows FreeSlots 2 and TotalInstances 2 (PUB measured)', async () => {
    // Each deployment now ends with its PUB phase: the coordinator polled this BDII until it showed the node.
    const at = await succeededAt(client!.deployNodes({ vo: 'bio', count: 2 }));
    expect(at).to.have.length(2);
    expect(await bioView(bdii!.uri)).to.deep.equal({ freeSlots: 2, totalJobs: 0, instances: 2, ceFreeCpus: 2, ceTotalCpus: 2 });
    const { operations } = await client!.timings(0);
    const pubPhases = operations.flatMap((o) => o.phases.filter((p) => p.phase === Phase.PHASE_PUB).map((p) => p.durationMs));
    expect(pubPhases, 'both deployments have a PUB phase').to.have.length(2);
    for (const [k, ms] of pubPhases.entries()) pub.push(`deploy: PUB of bio node ${k + 1} (node up -> ldapsearch shows it): ${(ms / 1000).toFixed(2)} s`);
  });

  it('goes back to 0 after the nodes are removed', async () => {
    const { nodes } = await client!.listNodes('bio');
    expect(nodes).to.have.length(2);
    const at: number[] = [];
    for (const n of nodes) at.push(...(await succeededAt(client!.removeNode(n.hostname))));
    const { view, atMs } = await waitForView(bdii!.uri, 'no bio node', (v) => v.instances === 0 && v.ceFreeCpus === 0);
    expect(view).to.deep.equal({ freeSlots: 0, totalJobs: 0, instances: 0, ceFreeCpus: 0, ceTotalCpus: 0 });
    pub.push(`removal: last bio node removed -> ldapsearch shows 0: ${((atMs - Math.max(...at)) / 1000).toFixed(2)} s`);
  });
});
