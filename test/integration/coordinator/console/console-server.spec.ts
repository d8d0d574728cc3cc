import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { HostState, OperationState, type CoordinatorEvent } from '../../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { tempDir } from '../../../helpers/agent-fakes.js';
import { consoleRequest, openConsoleEvents, type ConsoleCaller } from '../../../helpers/console-client.js';
import { freePort } from '../../../../scripts/testbed/lib/free-port.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { collect, until } from '../../../helpers/wait.js';

const TOKEN = 'night-shift-7f3a9c2e5b1d4f60';

// The web console's server side with a real coordinator process (HTTPS with
// the site PKI, the built bundle from dist/console) and real agents on the
// SIMULATED hypervisor: who may look, the read API, the live event stream.
describe('web console server (real coordinator, site PKI, simulated agents)', function () {
  this.timeout(120_000);
  let site: TestSite;
  let client: CoordinatorClient;
  let port = 0;
  let ca = '';
  const as = (name: string): ConsoleCaller => ({ ca, cert: { cert: path.join(site.pki, `${name}.pem`), key: path.join(site.pki, `${name}-key.pem`) } });

  before(async () => {
    const dir = await tempDir('vonode-console-');
    const tokensFile = path.join(dir, 'console-tokens.yaml');
    await writeFile(tokensFile, `tokens:\n  - name: night-shift\n    sha256: ${createHash('sha256').update(TOKEN).digest('hex')}\n`);
    port = await freePort();
    site = new TestSite({ agents: [{ name: 'phys-a' }, { name: 'phys-b' }], poolSize: 4, coordinator: { console: { listen: `127.0.0.1:${port}`, tokensFile } } });
    await site.start();
    ca = path.join(site.pki, 'ca.pem');
    client = site.client();
    await until('2 agents up', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2 ? true : undefined));
  });
  after(async () => {
    client?.close();
    await site?.stop();
  });

  it('serves the page without credentials, with a policy that loads nothing from elsewhere', async () => {
    const page = await consoleRequest(port, '/', { ca });
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.match(/^text\/html/);
    expect(page.text).to.include('/assets/app.js');
    expect(page.headers['content-security-policy']).to.include("default-src 'self'");
    const script = await consoleRequest(port, '/assets/app.js', { ca });
    expect(script.status).to.equal(200);
    expect(script.headers['content-type']).to.match(/^text\/javascript/);
    expect((await consoleRequest(port, '/assets/app.js', { ca }).then((r) => r.headers.etag))).to.equal(script.headers.etag);
  });

  it('refuses every API path without credentials (401, saying how to get in), and with a wrong token', async () => {
    for (const p of ['/api/whoami', '/api/status', '/api/hosts', '/api/nodes', '/api/operations', '/api/layers', '/api/events']) {
      const r = await consoleRequest(port, p, { ca });
      expect(r.status, p).to.equal(401);
      expect(r.json<{ error: string }>().error, p).to.match(/site certificate of role admin, operator or reader, or log in with a console token/);
    }
    const wrong = await consoleRequest(port, '/api/status', { ca, token: 'not-the-token' });
    expect(wrong.status).to.equal(401);
    expect(wrong.text).to.not.include('not-the-token');
  });

  it('lets in site certificates of the reading roles and refuses the others, naming the roles that may', async () => {
    for (const [name, role] of [['cli', 'admin'], ['operator', 'operator'], ['reader', 'reader']] as const) {
      const r = await consoleRequest(port, '/api/whoami', as(name));
      expect(r.status, name).to.equal(200);
      expect(r.json(), name).to.deep.equal({ name, via: 'certificate', role, site: 'test-site', coordinator: 'single' });
    }
    for (const name of ['gridway', 'infosys', 'phys-a']) {
      const r = await consoleRequest(port, '/api/status', as(name));
      expect(r.status, name).to.equal(401);
      expect(r.json<{ error: string }>().error, name).to.match(/may not read the console: roles admin, operator and reader may/);
    }
  });

  it('takes a bearer token, and a login that sets an HttpOnly Secure session cookie until logout', async () => {
    const bearer = await consoleRequest(port, '/api/whoami', { ca, token: TOKEN });
    expect(bearer.json()).to.include({ name: 'night-shift', via: 'token' });
    expect((await consoleRequest(port, '/api/login', { ca }, 'POST', JSON.stringify({ token: 'nope' }))).status).to.equal(401);
    const login = await consoleRequest(port, '/api/login', { ca }, 'POST', JSON.stringify({ token: TOKEN }));
    expect(login.status).to.equal(204);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).to.match(/^vonode_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200; Secure$/);
    const cookie = setCookie.split(';')[0]!;
    expect((await consoleRequest(port, '/api/status', { ca, cookie })).status).to.equal(200);
    expect((await consoleRequest(port, '/api/logout', { ca, cookie }, 'POST')).status).to.equal(204);
    expect((await consoleRequest(port, '/api/status', { ca, cookie })).status).to.equal(401);
  });

  it('is read-only: a write method on an API path is refused (405)', async () => {
    const r = await consoleRequest(port, '/api/nodes', as('cli'), 'POST', '{}');
    expect(r.status).to.equal(405);
    expect(r.headers['allow']).to.equal('GET, HEAD');
  });

  it('streams a deployment live (operation, phases, node) and answers the read API with the CLI\'s JSON', async () => {
    const stream = await openConsoleEvents(port, as('reader'));
    expect(stream.status).to.equal(200);
    const events = await collect(client.deployNodes({ vo: 'bio', count: 1 }));
    const done = events.flatMap((e: CoordinatorEvent) => (e.event?.$case === 'operation' ? [e.event.value] : [])).at(-1)!;
    expect(done.state).to.equal(OperationState.OPERATION_STATE_SUCCEEDED);
    await until('the stream carried the node running', async () => stream.events.some((e) => (e['node'] as { state?: string } | undefined)?.state === 'NODE_STATE_RUNNING') || undefined, 5000);
    const phases = stream.events.flatMap((e) => (e['phase'] ? [e['phase'] as { phase: string; edge: string; operationId: string }] : [])).filter((p) => p.operationId === done.id && p.edge === 'EDGE_END');
    expect(phases.map((p) => p.phase)).to.deep.equal(['PHASE_CR', 'PHASE_PT', 'PHASE_DA', 'PHASE_VMB', 'PHASE_VMR']);
    // Bursts go out together: fewer writes than events.
    expect(stream.chunks).to.be.lessThan(stream.events.length);
    stream.close();

    const nodes = (await consoleRequest(port, '/api/nodes', as('reader'))).json<{ nodes: Array<{ hostname: string; state: string; vo: string }> }>();
    expect(nodes.nodes.map((n) => [n.hostname, n.vo, n.state])).to.deep.equal([[done.node, 'bio', 'NODE_STATE_RUNNING']]);
    const hosts = (await consoleRequest(port, '/api/hosts', as('reader'))).json<{ hosts: Array<{ name: string; state: string; nodes?: number }> }>();
    expect(hosts.hosts.map((h) => h.name).sort()).to.deep.equal(['phys-a', 'phys-b']);
    expect(hosts.hosts.reduce((s, h) => s + (h.nodes ?? 0), 0)).to.equal(1);
    const status = (await consoleRequest(port, '/api/status', as('reader'))).json<{ site: string; vos: Array<{ vo: string; running?: number }> }>();
    expect(status.site).to.equal('test-site');
    expect(status.vos.find((v) => v.vo === 'bio')?.running).to.equal(1);

    const timeline = (await consoleRequest(port, `/api/operations/${done.id}`, as('reader'))).json<{ operation: { id: string }; phases: Array<{ phase: string; edge: string; unixMs: number }>; paper2007: Record<string, number> }>();
    expect(timeline.operation.id).to.equal(done.id);
    expect(timeline.phases.filter((p) => p.edge === 'end').map((p) => p.phase)).to.deep.equal(['CR', 'PT', 'DA', 'VMB', 'VMR']);
    expect(timeline.phases.every((p) => p.unixMs > 0)).to.equal(true);
    expect(timeline.paper2007).to.include({ CR: 2, PT: 96.8, VMR: 10.67 });
    expect((await consoleRequest(port, '/api/operations/no-such-op', as('reader'))).status).to.equal(404);
    const ops = (await consoleRequest(port, '/api/operations?limit=5', as('reader'))).json<{ operations: Array<{ operation: { id: string } }> }>();
    expect(ops.operations.map((o) => o.operation.id)).to.include(done.id);
    expect((await consoleRequest(port, '/api/operations?limit=0', as('reader'))).status).to.equal(400);
    const layers = (await consoleRequest(port, '/api/layers?since=1h', as('reader'))).json<{ kind: string; succeeded: number; layers: Array<{ layer: string; count: number }> }>();
    expect(layers.kind).to.equal('layers');
    expect(layers.succeeded).to.equal(1);
    expect(layers.layers.find((l) => l.layer === 'machine')?.count).to.equal(1);
    expect((await consoleRequest(port, '/api/layers?since=yesterday-ish', as('reader'))).status).to.equal(400);
  });

  it('shows a drained node leaving in the stream', async () => {
    const stream = await openConsoleEvents(port, as('cli'));
    const node = (await client.listNodes()).nodes[0]!.hostname;
    await collect(client.drainNode(node));
    await until('the drain succeeded in the stream', async () => stream.events.some((e) => {
      const op = e['operation'] as { kind?: string; state?: string; node?: string } | undefined;
      return op?.kind === 'OPERATION_KIND_DRAIN' && op.state === 'OPERATION_STATE_SUCCEEDED' && op.node === node;
    }) || undefined, 10_000);
    stream.close();
    expect((await consoleRequest(port, '/api/nodes', as('cli'))).json<{ nodes?: unknown[] }>().nodes ?? []).to.deep.equal([]);
  });
});
