import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, Page } from 'puppeteer-core';
import { HostState, OperationState, type CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { launchConsoleBrowser } from '../../../scripts/testbed/lib/console-browser.js';
import { freePort } from '../../../scripts/testbed/lib/free-port.js';
import { tempDir } from '../../helpers/agent-fakes.js';
import { TestSite } from '../../helpers/site-harness.js';
import { collect, until } from '../../helpers/wait.js';

const TOKEN = 'console-e2e-0c4f7d2a9b61e835';

/**
 * What the functions run inside the page use of it (the project's type-check
 * has no DOM library: Node code must not see browser globals).
 */
interface PageElement {
  textContent: string | null;
  value?: string;
}
interface PageGlobals {
  document: { querySelector(selector: string): PageElement | null; body: { innerText: string } };
  location: { hash: string };
  vonodeMark?: boolean;
}
/** Where the run leaves a screenshot of each view (the README shows the overview). */
const ARTIFACTS = path.resolve('artifacts/console');

// The web console in a real headless browser (Debian's chromium driven by
// puppeteer-core) against a real coordinator process and real agents on the
// SIMULATED hypervisor, over HTTPS with the site's certificate (the browser
// trusts exactly its key). Everything the page shows arrives through its
// one event stream: nothing here reloads the page after logging in.
describe('e2e: the web console in headless chromium (real coordinator, simulated agents)', function () {
  this.timeout(180_000);
  let site: TestSite;
  let client: CoordinatorClient;
  let browser: Browser;
  let page: Page;
  let base = '';
  let deployed = { id: '', node: '' };

  /** Waits for a selector; on a timeout, says what the page showed. */
  const shows = async (selector: string, timeout = 20_000): Promise<void> => {
    await page.waitForSelector(selector, { timeout }).catch(async (e: Error) => {
      throw new Error(`${e.message}\npage text: ${(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.innerText)).slice(0, 1500)}`);
    });
  };
  const go = async (hash: string, selector: string): Promise<void> => {
    await page.evaluate((h) => void ((globalThis as unknown as PageGlobals).location.hash = h), hash);
    await shows(selector);
  };
  const screenshot = async (name: string): Promise<void> => {
    await new Promise((r) => setTimeout(r, 300)); // the next animation frame's render
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) as `${string}.png`, fullPage: true });
  };

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const dir = await tempDir('vonode-console-e2e-');
    const tokensFile = path.join(dir, 'console-tokens.yaml');
    await writeFile(tokensFile, `tokens:\n  - name: night-shift\n    sha256: ${createHash('sha256').update(TOKEN).digest('hex')}\n`);
    const port = await freePort();
    site = new TestSite({
      // Guests that take 2 s to boot: the page has time to show the deployment while it runs.
      agents: [{ name: 'phys-a', bootDelay: '2s' }, { name: 'phys-b', bootDelay: '2s' }, { name: 'phys-c', bootDelay: '2s' }],
      poolSize: 6,
      coordinator: { console: { listen: `127.0.0.1:${port}`, tokensFile } },
    });
    await site.start();
    client = site.client();
    await until('3 agents up', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 3 ? true : undefined));
    base = `https://127.0.0.1:${port}`;
    browser = await launchConsoleBrowser(path.join(site.pki, 'coordinator.pem'));
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    client?.close();
    await site?.stop();
  });

  it('refuses the site to a browser without credentials: the login form, and 401 from the API', async () => {
    await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
    await shows('[data-testid="login-form"]');
    const api = await page.evaluate(async () => {
      const r = await fetch('/api/status', { credentials: 'same-origin' });
      return { status: r.status, body: await r.text() };
    });
    expect(api.status).to.equal(401);
    expect(api.body).to.match(/log in with a console token/);
    expect(api.body).to.not.match(/vwn-|phys-/);
    await page.type('[data-testid="login-token"]', 'wrong-token');
    await page.click('[data-testid="login-submit"]');
    await shows('[data-testid="login-error"]');
    await screenshot('login');
  });

  it('logs in with a token and shows the site overview: each VO\'s share, target and demand, hosts and pool', async () => {
    await page.$eval('[data-testid="login-token"]', (el) => void ((el as unknown as PageElement).value = ''));
    await page.type('[data-testid="login-token"]', TOKEN);
    await page.click('[data-testid="login-submit"]');
    await shows('[data-testid="vo-row-bio"]');
    await shows('[data-testid="vo-row-fusion"]');
    await until('the live stream is open', async () => ((await page.$eval('[data-testid="live-state"]', (el) => el.textContent)) === 'live' ? true : undefined), 10_000);
    expect(await page.$eval('[data-testid="whoami"]', (el) => el.textContent)).to.include('night-shift');
    expect(await page.$eval('[data-testid="stat-hosts"]', (el) => el.textContent)).to.match(/3/);
    await screenshot('overview');
  });

  it('shows a deployment live: its node appears in the nodes view while it boots, then runs', async () => {
    await go('#/nodes', '[data-testid="node-table"]');
    const stream = collect(client.deployNodes({ vo: 'fusion', count: 1 }));
    // The row appears from the stream (deploying), before the deployment ends.
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('[data-testid^="node-row-vwn-"]') !== null, { timeout: 15_000 });
    const whileBooting = await page.$eval('[data-testid^="node-row-vwn-"]', (el) => el.textContent ?? '');
    const events: CoordinatorEvent[] = await stream;
    const done = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value] : [])).at(-1)!;
    expect(done.state).to.equal(OperationState.OPERATION_STATE_SUCCEEDED);
    deployed = { id: done.id, node: done.node };
    expect(whileBooting, 'seen before it ran').to.match(/deploying/i);
    await page.waitForFunction((n) => /running/i.test((globalThis as unknown as PageGlobals).document.querySelector(`[data-testid="node-row-${n}"]`)?.textContent ?? ''), { timeout: 10_000 }, deployed.node);
    expect(await page.$eval(`[data-testid="node-row-${deployed.node}"]`, (el) => el.textContent)).to.match(/fusion/);
    await screenshot('nodes');
  });

  it('draws the deployment\'s timeline: a bar for every phase it recorded, and the 2007 figures as ghost bars', async () => {
    await go(`#/operations/${deployed.id}`, '[data-testid="gantt"]');
    const recorded = await page.evaluate(async (id) => ((await (await fetch(`/api/operations/${id}`)).json()) as { phases: Array<{ phase: string; edge: string }> }).phases, deployed.id);
    const phases = [...new Set(recorded.filter((p) => p.edge === 'end').map((p) => p.phase))];
    expect(phases).to.deep.equal(['CR', 'PT', 'DA', 'VMB', 'VMR']);
    for (const p of phases) await shows(`[data-testid="gantt-bar-${p}"]`, 5000);
    for (const p of ['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW']) await shows(`[data-testid="ghost-bar-${p}"]`, 5000);
    // VMR (the 2 s boot) is the longest bar of this deployment.
    const widths = await page.$$eval('[data-testid^="gantt-bar-"]', (els) => els.map((el) => [el.getAttribute('data-testid'), Number(el.getAttribute('width') ?? el.getBoundingClientRect().width)] as const));
    const longest = [...widths].sort((a, b) => b[1] - a[1])[0]![0];
    expect(longest).to.equal('gantt-bar-VMR');
    await screenshot('timeline');
  });

  it('takes a drained node off the nodes view as the drain ends, without a reload', async () => {
    await go('#/nodes', `[data-testid="node-row-${deployed.node}"]`);
    await page.evaluate(() => ((globalThis as unknown as PageGlobals).vonodeMark = true));
    const drain = await collect(client.drainNode(deployed.node));
    expect(drain.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value.state] : [])).at(-1)).to.equal(OperationState.OPERATION_STATE_SUCCEEDED);
    await page.waitForFunction((n) => (globalThis as unknown as PageGlobals).document.querySelector(`[data-testid="node-row-${n}"]`) === null, { timeout: 10_000 }, deployed.node);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).vonodeMark), 'the same page, not reloaded').to.equal(true);
  });

  it('shows the hosts, the Fig. 3 layers of the period and the live event stream', async () => {
    await go('#/hosts', '[data-testid="host-row-phys-c"]');
    expect(await page.$$eval('[data-testid^="host-row-"]', (els) => els.length)).to.equal(3);
    await screenshot('hosts');
    await go('#/layers', '[data-testid="layer-machine"]');
    await page.waitForFunction(() => /1/.test((globalThis as unknown as PageGlobals).document.querySelector('[data-testid="layers-count"]')?.textContent ?? ''), { timeout: 10_000 });
    await screenshot('layers');
    await go('#/events', '[data-testid="event-row"]');
    const rows = await page.$$eval('[data-testid="event-row"]', (els) => els.map((el) => el.textContent ?? ''));
    expect(rows.some((r) => new RegExp(deployed.node).test(r)), 'the deployment and drain are in the event list').to.equal(true);
    await screenshot('events');
    await go('#/operations', `[data-testid="op-row-${deployed.id}"]`);
    await screenshot('operations');
  });
});
