import { expect } from 'chai';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { HostState, OperationState, type Operation } from '../../../shared/gen/vonode/v1/coordinator.js';
import { isCoordinatorCallError, type CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { vonode } from '../../helpers/run-vonode-cli.js';
import { TestSite } from '../../helpers/site-harness.js';
import { collect, until } from '../../helpers/wait.js';

// A VO whose appliance names the wrong sha256, and the bounds of the API's
// numbers, with real processes over mutual TLS (agents on the SIMULATED
// hypervisor driver, see site.spec.ts).

const WRONG_SHA = '0'.repeat(64);

/** The policy: bio on the site's image, broken on the same file with the digest `brokenSha`. */
function sitePolicy(appliance: { disk: { url: string; sha256: string } }, brokenSha = WRONG_SHA): Record<string, unknown> {
  const vm = { vcpus: 1, memory: '64MiB' };
  return {
    cooldowns: { scaleUp: '1s', scaleDown: '1s' },
    vos: {
      bio: { weight: 2, max: 4, queue: 'bio.q', vm, appliance },
      broken: { weight: 1, max: 4, queue: 'broken.q', vm, appliance: { disk: { url: appliance.disk.url, sha256: brokenSha } } },
    },
  };
}

/** The error of a call that must be refused. */
async function refusal(call: () => Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call();
  } catch (err) {
    if (isCoordinatorCallError(err)) return { code: err.code, details: err.details };
    throw err;
  }
  throw new Error('the call was not refused');
}

describe('vonode-coordinator: deployment holds and request bounds (real processes)', function () {
  this.timeout(120_000);
  const site = new TestSite({ agents: [{ name: 'phys-a' }, { name: 'phys-b' }], poolSize: 3, policy: (appliance) => sitePolicy(appliance) });
  let client: CoordinatorClient;
  const cli = (...args: string[]) => {
    const pki = (f: string): string => path.join(site.pki, f);
    return vonode(['--coordinator', `127.0.0.1:${site.coordinatorPort}`, '--ca', pki('ca.pem'), '--cert', pki('cli.pem'), '--key', pki('cli-key.pem'), ...args]);
  };

  before(async () => {
    await site.start();
    client = site.client();
    await until('both agents up', async () => ((await client.listHosts()).hosts.filter((h) => h.state === HostState.HOST_STATE_UP).length === 2 ? true : undefined));
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(site.recentLogs(400));
  });
  after(async () => {
    client?.close();
    await site.stop();
  });

  it('fails a deployment whose image does not verify after ONE attempt (not retried on the other agent), and status shows the hold and why', async () => {
    const events = await collect(client.deployNodes({ vo: 'broken', count: 1 }));
    const states = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value] : []));
    expect(states.map((o) => o.state)).to.not.include(OperationState.OPERATION_STATE_RETRYING);
    const last = states.at(-1) as Operation;
    expect(last.state).to.equal(OperationState.OPERATION_STATE_FAILED);
    expect(last.attempt).to.equal(1);
    expect(last.error).to.match(/^image of broken failed verification on phys-[ab]: fix the repository or the policy's sha256 \(vos\.broken\.appliance\); not retried on other hosts \(agent: /);
    expect(last.error).to.include(WRONG_SHA);

    const vos = (await client.status()).vos;
    const broken = vos.find((v) => v.vo === 'broken')!;
    expect(broken).to.deep.include({ deployFailures: 1, lastDeployError: last.error });
    expect(broken.deployHeldUntilUnixMs).to.be.greaterThan(Date.now());
    expect(vos.find((v) => v.vo === 'bio')).to.deep.include({ deployFailures: 0, lastDeployError: '' });

    const text = await cli('status');
    expect(text.code, text.err).to.equal(0);
    expect(text.out).to.match(/^broken: 1 deployment\(s\) failed since the last success; the scaling loop holds new ones back for .* more$/m);
    expect(text.out).to.include(`  last error: ${last.error}`);
    const json = await cli('status', '--json');
    const shown = (JSON.parse(json.out) as { vos: Array<Record<string, unknown>> }).vos.find((v) => v['vo'] === 'broken');
    expect(shown).to.deep.include({ deployFailures: 1, lastDeployError: last.error });
  });

  it('lifts the hold as soon as the policy fixes the appliance\'s sha256 (no backoff to wait out); then the VO deploys', async () => {
    await client.applyPolicy(stringify(sitePolicy({ disk: site.image }, site.image.sha256)));
    const broken = (await client.status()).vos.find((v) => v.vo === 'broken')!;
    expect(broken).to.deep.include({ deployFailures: 0, deployHeldUntilUnixMs: 0, lastDeployError: '' });
    const events = await collect(client.deployNodes({ vo: 'broken', count: 1 }));
    const last = events.flatMap((e) => (e.event?.$case === 'operation' ? [e.event.value] : [])).at(-1)!;
    expect(last.state, last.error).to.equal(OperationState.OPERATION_STATE_SUCCEEDED);
    for (const n of (await client.listNodes()).nodes) await collect(client.removeNode(n.hostname));
  });

  it('refuses numbers out of range with INVALID_ARGUMENT naming the field (never INTERNAL), and a count beyond the free pool with RESOURCE_EXHAUSTED', async () => {
    const tooMany = await refusal(() => collect(client.deployNodes({ vo: 'bio', count: 1001 })));
    expect(tooMany).to.deep.equal({ code: status.INVALID_ARGUMENT, details: 'invalid count: must be 1 to 1000 nodes per request (0 means 1), got 1001; deploy more in several requests' });
    const maxUint32 = await refusal(() => collect(client.deployNodes({ vo: 'bio', count: 4_294_967_295 })));
    expect(maxUint32.code).to.equal(status.INVALID_ARGUMENT);
    const beyondPool = await refusal(() => collect(client.deployNodes({ vo: 'bio', count: 4 })));
    expect(beyondPool).to.deep.equal({ code: status.INVALID_ARGUMENT, details: 'invalid count: must be 1..3 (the pool size)' });
    const limit = await refusal(() => client.timings(10_001));
    expect(limit).to.deep.equal({ code: status.INVALID_ARGUMENT, details: 'invalid limit: must be 0 (all) or 1 to 10000 operations, got 10001' });
    const voName = await refusal(() => collect(client.deployNodes({ vo: 'bio_x', count: 1 })));
    expect(voName).to.deep.equal({ code: status.INVALID_ARGUMENT, details: 'invalid vo: "bio_x" is not a VO name: use a lowercase letter then up to 30 of a-z, 0-9, - (e.g. bio, fusion-2)' });

    // Two of three triples leased: three more do not fit.
    await collect(client.deployNodes({ vo: 'bio', count: 2 }));
    const exhausted = await refusal(() => collect(client.deployNodes({ vo: 'bio', count: 3 })));
    expect(exhausted.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(exhausted.details).to.match(/the node pool is exhausted \(1 of 3 triples free, 3 asked\): add hostname\/IP\/MAC triples/);
    for (const n of (await client.listNodes()).nodes) await collect(client.removeNode(n.hostname));
  });

  it('vonode deploy --count 99999999999 stops before any RPC (exit 2): no operation is created', async () => {
    const before = (await client.timings(0)).operations.length;
    const r = await cli('deploy', '--vo', 'bio', '--count', '99999999999');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/--count takes a whole number from 1 to 1000, not "99999999999"/);
    expect((await client.timings(0)).operations.length).to.equal(before);
  });
});
