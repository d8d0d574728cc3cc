import { expect } from 'chai';
import { operationTimings, siteStatus, wireWeight, type SiteViewDeps } from '../../../../coordinator/api/site-views.js';
import type { PolicyWatcher } from '../../../../coordinator/policy/policy-watcher.js';
import { StatusResponse } from '../../../../shared/gen/vonode/v1/coordinator.js';
import type { OperationRecord, PhaseRow } from '../../../../coordinator/store/records.js';
import type { PhaseName } from '../../../../shared/phases.js';

const T0 = Date.UTC(2025, 0, 1);
// The agent's host booted weeks ago, the coordinator a minute ago: their CLOCK_MONOTONIC readings are unrelated.
const AGENT_MONO = 3_000_000_000;
const COORD_MONO = 60_000;

/** Start and end rows of one phase: `atMs` after T0 on the wall clock, read off `mono` (the stamping host's monotonic clock at T0). */
function phase(name: PhaseName, atMs: number, durationMs: number, mono: number, wallSkewMs = 0): PhaseRow[] {
  const row = { operationId: 'op-1', attempt: 1, host: 'phys01', phase: name, details: {} };
  return [
    { ...row, edge: 'start', monotonicMs: mono + atMs, unixMs: T0 + atMs + wallSkewMs, durationMs: 0 },
    { ...row, edge: 'end', monotonicMs: mono + atMs + durationMs, unixMs: T0 + atMs + durationMs + wallSkewMs, durationMs },
  ];
}

const op = (kind: OperationRecord['kind']): OperationRecord => ({
  id: 'op-1', seq: 1, kind, state: 'succeeded', vo: 'bio', node: 'vo-bio-01', host: 'phys01', pinnedHost: '', attempt: 1,
  excludedHosts: [], error: '', trigger: 'manual', createdMs: T0 - 5_000, finishedMs: T0 + 20_000,
});

/** A deployment: CR..VMR on the agent (0 to 9.5 s), SR then PUB and GW side by side on the coordinator (9.6 to 15.6 s). */
function deployRows(agentSkewMs = 0): PhaseRow[] {
  return [
    ...phase('CR', 0, 100, AGENT_MONO, agentSkewMs),
    ...phase('PT', 100, 4_000, AGENT_MONO, agentSkewMs),
    ...phase('DA', 4_100, 400, AGENT_MONO, agentSkewMs),
    ...phase('VMB', 4_500, 1_000, AGENT_MONO, agentSkewMs),
    ...phase('VMR', 5_500, 4_000, AGENT_MONO, agentSkewMs),
    ...phase('SR', 9_600, 2_000, COORD_MONO),
    ...phase('PUB', 11_600, 3_000, COORD_MONO),
    ...phase('GW', 11_600, 4_000, COORD_MONO),
  ];
}

const total = async (rows: PhaseRow[], kind: OperationRecord['kind'] = 'deploy'): Promise<number> =>
  (await operationTimings({ phases: () => Promise.resolve(rows) }, [op(kind)], () => undefined))[0]!.totalMs;

describe('coordinator/api/operationTimings', () => {
  it('totals a deployment from the first start to the last end on the wall clock, across the agent\'s and the coordinator\'s clocks', async () => {
    const [t] = await operationTimings({ phases: () => Promise.resolve(deployRows()) }, [op('deploy')], () => undefined);
    expect(t!.phases.map((p) => p.durationMs)).to.deep.equal([100, 4_000, 400, 1_000, 4_000, 2_000, 3_000, 4_000]);
    // Monotonic readings of the two hosts would give 60 000 + 15 600 − 3 000 000 000 here.
    expect(t!.totalMs).to.equal(15_600);
  });

  it('totals a drain (DRN on the coordinator, RC..DKR on the agent) the same way', async () => {
    const rows = [
      ...phase('DRN', 0, 30_000, COORD_MONO),
      ...phase('RC', 30_050, 50, AGENT_MONO),
      ...phase('VMD', 30_100, 5_000, AGENT_MONO),
      ...phase('DHR', 35_100, 100, AGENT_MONO),
      ...phase('DKR', 35_200, 300, AGENT_MONO),
    ];
    expect(await total(rows, 'drain')).to.equal(35_500);
  });

  it('falls back to the sum of each clock\'s own span when a mark lacks its Unix time (relay gap not counted)', async () => {
    const rows = deployRows();
    rows[3] = { ...rows[3]!, unixMs: 0 };
    expect(await total(rows)).to.equal(9_500 + 6_000);
  });

  it('never goes below the per-clock spans when the agent\'s wall clock runs ahead', async () => {
    expect(await total(deployRows(-50))).to.equal(15_650); // agent behind: the span grows by the offset
    expect(await total(deployRows(+2_000))).to.equal(15_500); // agent 2 s ahead: 13.6 s on the wall clocks, 9.5 + 6 s on their own
  });

  it('is 0 without a start and an end, and ignores earlier attempts', async () => {
    expect(await total([])).to.equal(0);
    expect(await total(phase('CR', 0, 100, AGENT_MONO).slice(0, 1))).to.equal(0);
    const old = phase('CR', -60_000, 100, AGENT_MONO).map((r) => ({ ...r, attempt: 0 }));
    expect(await total([...old, ...deployRows()])).to.equal(15_600);
  });
});

describe('coordinator/api/siteStatus', () => {
  const policy = {
    current: { vos: [{ name: 'bio', weight: 1.5, min: 0 }, { name: 'fusion', weight: 0.25, min: 1 }] },
    status: () => ({ file: '/etc/vonode/policy.yaml', loadedAtUnixMs: 1, sha256: 'ab' }),
  } as unknown as PolicyWatcher;
  const deps = {
    site: 's', startedUnixMs: 1, store: { nodes: () => [] }, pool: { total: 4 }, registry: { list: () => [], counts: () => ({ up: 0, down: 0 }) }, policy,
    depth: () => ({ queued: 0, running: 0 }), targets: () => new Map(),
    deployHolds: () => new Map([['bio', { failures: 1, untilMs: 9, lastError: 'image of bio failed verification on phys-01: fix the repository or the policy\'s sha256' }]]),
  } as unknown as SiteViewDeps;

  it('sends fractional weights rounded (VoStatus.weight is uint32; 1.5 would fail Status), never 0', () => {
    expect([wireWeight(1.5), wireWeight(0.25), wireWeight(2), wireWeight(1e6)]).to.deep.equal([2, 1, 2, 1e6]);
    const status = siteStatus(deps);
    expect(status.vos.map((v) => v.weight)).to.deep.equal([2, 1]);
    expect(() => StatusResponse.encode(status).finish()).to.not.throw();
  });

  it('carries each VO\'s hold and its reason', () => {
    const bio = siteStatus(deps).vos[0]!;
    expect(bio).to.deep.include({ deployFailures: 1, deployHeldUntilUnixMs: 9, lastDeployError: 'image of bio failed verification on phys-01: fix the repository or the policy\'s sha256' });
  });
});
