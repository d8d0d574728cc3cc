import { expect } from 'chai';
import { CoordinatorMetrics, type DeployHoldView, type MetricsSources } from '../../../../coordinator/metrics/metrics.js';

/** Sources with nothing running, and the holds and clock given. */
function sources(holds: Map<string, DeployHoldView>, nowMs: () => number): MetricsSources {
  return {
    queueDepth: () => ({ queued: 0, running: 0 }), agentsUp: () => 0, agentsDown: () => 0, nodesByState: () => ({}),
    deployHolds: () => holds, nowMs,
  };
}

/** The exposition lines of one metric family (no HELP/TYPE). */
async function lines(m: CoordinatorMetrics, name: string): Promise<string[]> {
  const text = await m.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('CoordinatorMetrics', () => {
  it('exports vonode_vo_deploy_hold 1 while a VO is held and 0 once its hold expired, with the cause as a label', async () => {
    let now = 1_000;
    const holds = new Map<string, DeployHoldView>([['bio', { failures: 3, untilMs: 5_000, cause: 'image' }], ['atlas', { failures: 1, untilMs: 2_000 }]]);
    const m = new CoordinatorMetrics(sources(holds, () => now));
    expect(await lines(m, 'vonode_vo_deploy_hold')).to.have.members(['vonode_vo_deploy_hold{vo="bio",cause="image"} 1', 'vonode_vo_deploy_hold{vo="atlas",cause="other"} 1']);
    expect(await lines(m, 'vonode_vo_deploy_failures')).to.have.members(['vonode_vo_deploy_failures{vo="bio"} 3', 'vonode_vo_deploy_failures{vo="atlas"} 1']);
    now = 3_000;
    expect(await lines(m, 'vonode_vo_deploy_hold')).to.have.members(['vonode_vo_deploy_hold{vo="bio",cause="image"} 1', 'vonode_vo_deploy_hold{vo="atlas",cause="other"} 0']);
  });

  it('drops a VO\'s hold series once it has no failures left (a success, or the VO left the policy)', async () => {
    const holds = new Map<string, DeployHoldView>([['bio', { failures: 2, untilMs: 5_000, cause: 'request' }]]);
    const m = new CoordinatorMetrics(sources(holds, () => 0));
    expect(await lines(m, 'vonode_vo_deploy_hold')).to.have.length(1);
    holds.clear();
    expect(await lines(m, 'vonode_vo_deploy_hold')).to.deep.equal([]);
    expect(await lines(m, 'vonode_vo_deploy_failures')).to.deep.equal([]);
  });

  it('exports every operation kind and result at 0 before any finished, so increase() counts the first one', async () => {
    const m = new CoordinatorMetrics(sources(new Map(), () => 0));
    const zero = await lines(m, 'vonode_operations_total');
    expect(zero).to.include('vonode_operations_total{kind="deploy",result="failed"} 0');
    expect(zero).to.have.length(6);
    m.onFinished({ kind: 'deploy', state: 'failed' } as Parameters<CoordinatorMetrics['onFinished']>[0]);
    expect(await lines(m, 'vonode_operations_total')).to.include('vonode_operations_total{kind="deploy",result="failed"} 1');
  });
});
