import { expect } from 'chai';
import { repoNode } from '../../../../scripts/testbed/lib/testbed-process.js';
import path from 'node:path';
import { Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { NodeState, OperationState } from '../../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { GwdStandIn } from '../../../../scripts/testbed/lib/gwd-stand-in.js';
import { until } from '../../../../scripts/testbed/lib/wait.js';
import { TestSite } from '../../../helpers/site-harness.js';

// GridWay's view of a REUSED pool hostname, measured the way a real gwd holds
// it: the testbed's gwd stand-in keeps gwd's host pool rules (a known host is
// MONITORed again only after MONITORING_INTERVAL, here gwd's default 180 s;
// unsolicited MONITOR replies are applied by id; an unknown id is fatal), the
// MAD is the real vonode-gw-im-mad, against a real coordinator and agents
// (simulated hypervisor). Without the MAD's MONITOR push gwd would show the
// reused host with no free slot for up to 3 minutes.
describe('GridWay sees a redeployed (reused) hostname at once (gwd stand-in with a 180 s monitoring interval)', function () {
  this.timeout(120_000);
  const site = new TestSite({
    agents: [{ name: 'phys-a' }], poolSize: 1,
    coordinator: { gridway: { waitForMad: true }, deploy: { phaseTimeouts: { GW: '20s' } } },
  });
  let client: CoordinatorClient;
  let gwd: GwdStandIn;

  before(async () => {
    await site.start();
    client = site.client();
    await until('the agent up', async () => ((await client.status()).hostsUp === 1) || undefined, 30_000, 200);
    const pki = site.pki;
    const args = `-c 127.0.0.1:${site.coordinatorPort} --ca ${pki}/ca.pem --cert ${pki}/gridway.pem --key ${pki}/gridway-key.pem --lrms sge --timeout 3`;
    gwd = new GwdStandIn(repoNode('coordinator/gridway/main.ts', [args]), path.join(site.dir, 'gwd-stand-in.log'), { monitoringIntervalMs: 180_000, imPassMs: 5_000 });
    await gwd.start();
  });
  after(async () => {
    await gwd?.stop();
    client?.close();
    await site.stop();
  });

  /** Deploys the pool's one node; resolves with the moment (performance.now()) the coordinator said it runs. */
  async function deploy(): Promise<{ node: string; runningAt: number }> {
    let runningAt = 0;
    let node = '';
    for await (const e of client.deployNodes({ vo: 'bio', count: 1 })) {
      const ev = e.event;
      if (ev?.$case === 'node' && ev.value.state === NodeState.NODE_STATE_RUNNING && !runningAt) runningAt = performance.now();
      if (ev?.$case === 'operation') node = ev.value.node;
      if (ev?.$case === 'operation' && ev.value.state === OperationState.OPERATION_STATE_FAILED) throw new Error(`deployment failed: ${ev.value.error}`);
    }
    return { node, runningAt };
  }

  it('a new hostname: gwd learns its free slot on its next IM pass, and that ends GW (the DISCOVER push is a detail)', async () => {
    const first = await deploy();
    expect(gwd.freeSlots(first.node)).to.equal(1);
    const op = (await client.timings(0)).operations.at(-1)!;
    const gw = op.phases.find((p) => p.phase === Phase.PHASE_GW);
    expect(gw, 'GW ended').to.not.equal(undefined);
    for await (const _ of client.removeNode(first.node)) void _;
    await until('gwd shows the removed node with no free slot', () => (gwd.freeSlots(first.node) === 0) || undefined, 5_000, 50);
  });

  it('the same hostname again: free slots in gwd\'s view within 1 s of the node running, not after the 180 s interval', async () => {
    const again = await deploy();
    const seen = await until('a free slot in gwd\'s view', () => (gwd.freeSlots(again.node) === 1 ? performance.now() : undefined), 10_000, 10);
    const afterRunning = seen - again.runningAt;
    console.log(`      reused ${again.node}: free slot in gwd's view ${afterRunning.toFixed(0)} ms after the node ran`);
    expect(afterRunning).to.be.below(1000);
    expect(gwd.fatal, 'nothing that would crash gwd').to.equal(undefined);
  });
});
