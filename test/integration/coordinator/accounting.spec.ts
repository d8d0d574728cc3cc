import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { apelTotals, parseApelMessage, type ApelRecord } from '../../../coordinator/accounting/apel-message.js';
import { HostState, NodeState, OperationState, type CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { tempDir } from '../../helpers/agent-fakes.js';
import { vonode } from '../../helpers/run-vonode-cli.js';
import { TestSite } from '../../helpers/site-harness.js';
import { collect, sleep, until } from '../../helpers/wait.js';

/** The usage report as `vonode accounting --format json` prints it (the fields this test reads). */
interface JsonReport {
  records: Array<{ id: string; vo: string; node: string; host: string; status: string; endStatus: string; wallMs: number; cpuMs: number; start: string; end: string }>;
  totals: { vms: number; wallMs: number; cpuMs: number };
}

/** Every message the APEL writer left in the outgoing directory (dirq QueueSimple: <8 hex>/<14 hex>). */
async function apelMessages(dir: string): Promise<{ names: string[]; records: ApelRecord[] }> {
  const names: string[] = [];
  const records: ApelRecord[] = [];
  for (const sub of (await readdir(dir).catch(() => [] as string[])).sort()) {
    for (const name of (await readdir(path.join(dir, sub))).sort()) {
      names.push(`${sub}/${name}`);
      records.push(...parseApelMessage(await readFile(path.join(dir, sub, name), 'utf8')));
    }
  }
  return { names, records };
}

// Usage records end to end: a real coordinator and agents (simulated
// hypervisor), VMs deployed, drained and removed on both sides of a
// coordinator restart (SIGKILL), then the real CLI in all four formats, and
// the APEL writer's messages parsed back.
describe('vonode accounting with a real coordinator and agents (usage records across a restart, APEL messages)', function () {
  this.timeout(180_000);
  let apelDir = '';
  let site: TestSite;
  let client: CoordinatorClient;
  let env: Record<string, string>;

  before(async () => {
    apelDir = path.join(await tempDir('vonode-apel-'), 'outgoing');
    site = new TestSite({
      agents: [{ name: 'phys-a' }, { name: 'phys-b' }],
      poolSize: 8,
      coordinator: { accounting: { apel: { dir: apelDir, interval: '2s', siteName: 'TEST-SITE', cloudComputeService: 'test-cloud' } } },
    });
    await site.start();
    client = site.client();
    env = { VONODE_COORDINATOR: `127.0.0.1:${site.coordinatorPort}`, VONODE_TLS_CA: path.join(site.pki, 'ca.pem'), VONODE_TLS_CERT: path.join(site.pki, 'cli.pem'), VONODE_TLS_KEY: path.join(site.pki, 'cli-key.pem') };
    await until('2 agents up', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2 ? true : undefined));
  });
  after(async () => {
    client?.close();
    await site?.stop();
  });

  it('records every VM life across a restart; the four formats and the APEL messages agree', async () => {
    const t0 = Date.now() - 1000;
    const ok = (events: CoordinatorEvent[]): void => {
      const states = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value.state] : []));
      expect(states.at(-1)).to.equal(OperationState.OPERATION_STATE_SUCCEEDED);
    };
    ok(await collect(client.deployNodes({ vo: 'bio', count: 4 })));
    ok(await collect(client.deployNodes({ vo: 'fusion', count: 2 })));
    const nodes = (await client.listNodes()).nodes;
    expect(nodes.filter((n) => n.state === NodeState.NODE_STATE_RUNNING)).to.have.length(6);
    const bio = nodes.filter((n) => n.vo === 'bio').map((n) => n.hostname);
    const fusion = nodes.filter((n) => n.vo === 'fusion').map((n) => n.hostname);
    await sleep(1500); // lives of a second or more
    ok(await collect(client.drainNode(bio[0]!)));
    ok(await collect(client.removeNode(fusion[0]!)));

    // The coordinator dies (SIGKILL) with four VMs running: their open records are in its store.
    await site.kill(site.coordinatorProc);
    client.close();
    await site.startCoordinator();
    client = site.client();
    await until('agents back', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2 ? true : undefined));
    await sleep(1000);
    for (const n of [bio[1]!, bio[2]!, bio[3]!]) ok(await collect(client.removeNode(n)));
    ok(await collect(client.drainNode(fusion[1]!)));
    expect((await client.listNodes()).nodes).to.have.length(0);
    await sleep(50);
    const tEnd = Date.now();
    const period = ['--since', new Date(t0).toISOString(), '--until', new Date(tEnd).toISOString()];

    const json = await vonode(['accounting', ...period, '--format', 'json'], env);
    expect(json.code, json.err).to.equal(0);
    const report = JSON.parse(json.out) as JsonReport;
    expect(report.records.map((r) => [r.node, r.vo, r.endStatus]).sort()).to.deep.equal(
      [
        [bio[0], 'bio', 'drained'], [bio[1], 'bio', 'removed'], [bio[2], 'bio', 'removed'], [bio[3], 'bio', 'removed'],
        [fusion[0], 'fusion', 'removed'], [fusion[1], 'fusion', 'drained'],
      ].sort(),
    );
    for (const r of report.records) {
      expect(r.host).to.match(/^phys-[ab]$/);
      expect(r.wallMs, r.node).to.be.greaterThan(1000);
    }
    expect(report.totals.vms).to.equal(6);
    expect(report.totals.wallMs).to.equal(report.records.reduce((s, r) => s + r.wallMs, 0));
    expect(report.totals.cpuMs).to.equal(report.totals.wallMs); // 1 vCPU each

    const csv = await vonode(['accounting', ...period, '--format', 'csv'], env);
    expect(csv.code, csv.err).to.equal(0);
    const [header, ...rows] = csv.out.trimEnd().split('\r\n').map((l) => l.split(','));
    const col = (name: string): number => header!.indexOf(name);
    expect(rows.map((r) => r[col('id')]).sort()).to.deep.equal(report.records.map((r) => r.id).sort());
    expect(rows.reduce((s, r) => s + Number(r[col('wallMs')]), 0)).to.equal(report.totals.wallMs);

    const table = await vonode(['accounting', ...period], env);
    expect(table.code, table.err).to.equal(0);
    const total = table.out.split('\n').find((l) => l.startsWith('total'))!.trim().split(/\s+/);
    expect(total.slice(1, 3)).to.deep.equal(['6', (report.totals.wallMs / 3_600_000).toFixed(2)]);
    expect(table.out.split('\n').filter((l) => /^(bio|fusion)\s+vwn-/.test(l))).to.have.length(6);

    const apel = await vonode(['accounting', ...period, '--format', 'apel', '--site-name', 'TEST-SITE'], env);
    expect(apel.code, apel.err).to.equal(0);
    const fromCli = parseApelMessage(apel.out);
    const wholeSeconds = report.records.reduce((s, r) => s + Math.floor(r.wallMs / 1000), 0);
    expect(apelTotals(fromCli)).to.deep.equal({ vms: 6, wallSeconds: wholeSeconds, cpuSeconds: wholeSeconds });
    expect(fromCli.every((r) => r['Status'] === 'completed' && r['SiteName'] === 'TEST-SITE')).to.equal(true);

    const bioOnly = JSON.parse((await vonode(['accounting', ...period, '--vo', 'bio', '--format', 'json'], env)).out) as JsonReport;
    expect(bioOnly.totals.vms).to.equal(4);

    // The writer (2 s periods) has sent every period up to one after tEnd; its messages, as APEL reads them, hold the same lives.
    const written = await until('the APEL writer has passed the last removal', async () => {
      const m = await apelMessages(apelDir);
      const totals = apelTotals(m.records);
      return totals.vms === 6 && m.records.filter((r) => r['Status'] === 'completed').length >= 6 ? m : undefined;
    }, 20_000, 250);
    expect(written.names.every((n) => /^[0-9a-f]{8}\/[0-9a-f]{14}$/.test(n)), written.names.join()).to.equal(true);
    expect(apelTotals(written.records)).to.deep.equal({ vms: 6, wallSeconds: wholeSeconds, cpuSeconds: wholeSeconds });
    const completed = new Map(written.records.filter((r) => r['Status'] === 'completed').map((r) => [r['VMUUID'], r]));
    expect([...completed.keys()].sort()).to.deep.equal(report.records.map((r) => r.id).sort());
    expect(written.records.every((r) => r['SiteName'] === 'TEST-SITE' && r['CloudComputeService'] === 'test-cloud')).to.equal(true);
  });
});
