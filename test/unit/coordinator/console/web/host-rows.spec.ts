import { expect } from 'chai';
import type { CoordinatorEventJson } from '../../../../../coordinator/console/web/model/api-types.js';
import { summarizeEvent } from '../../../../../coordinator/console/web/model/event-summary.js';
import { formatRate, fromDatetimeLocal, phaseShort, toDatetimeLocal } from '../../../../../coordinator/console/web/model/format.js';
import { hostRows, nodesPerHost, runningOperationPerHost } from '../../../../../coordinator/console/web/model/host-rows.js';
import type { OperationEntry } from '../../../../../coordinator/console/web/model/site-model.js';

const GiB = 1024 ** 3;

function entry(id: string, state: string, host: string): [string, OperationEntry] {
  return [id, { operation: { id, state, host, kind: 'OPERATION_KIND_DEPLOY' }, durations: new Map() }];
}

describe('coordinator/console/web/model/host-rows', () => {
  it('builds the hosts table from facts, the live nodes and the running operations', () => {
    const nodes = [
      { hostname: 'a', host: 'phys01', state: 'NODE_STATE_RUNNING' },
      { hostname: 'b', host: 'phys01', state: 'NODE_STATE_DEPLOYING' },
      { hostname: 'c', host: 'phys02', state: 'NODE_STATE_RUNNING' },
      { hostname: 'd', state: 'NODE_STATE_DEPLOYING' }, // queued: no host yet
    ];
    const ops = new Map([entry('dep-b', 'OPERATION_STATE_RUNNING', 'phys01'), entry('dep-old', 'OPERATION_STATE_SUCCEEDED', 'phys02')]);
    const hosts = [
      { name: 'phys10', state: 'HOST_STATE_DOWN' },
      {
        name: 'phys01',
        state: 'HOST_STATE_UP',
        facts: { cpus: 16, memoryTotalBytes: 64 * GiB, memoryAvailableBytes: 40 * GiB, cachedImages: ['aa'.repeat(32)], holdings: [{ sha256: 'bb'.repeat(32), sizeBytes: 100, verifiedBytes: 40, complete: false }, { sha256: 'aa'.repeat(32), complete: true }] },
      },
      // The snapshot says dep-old holds phys02, but the events have it finished since.
      { name: 'phys02', state: 'HOST_STATE_UP', activeOperation: 'dep-old', nodes: 5 },
    ];
    const rows = hostRows(hosts, nodesPerHost(nodes), runningOperationPerHost(ops.values()), ops);
    expect(rows.map((r) => r.name)).to.deep.equal(['phys01', 'phys02', 'phys10']);
    const [p1, p2, p10] = rows;
    expect(p1).to.include({ up: true, state: 'up', memoryUsedBytes: 24 * GiB, memoryTotalBytes: 64 * GiB, vcpus: 16, nodes: 2, runningNodes: 1, slotOperationId: 'dep-b' });
    expect(p1!.cachedImages).to.deep.equal(['aa'.repeat(32)]);
    expect(p1!.fetching.map((h) => h.sha256)).to.deep.equal(['bb'.repeat(32)]);
    expect(p2).to.include({ nodes: 1, slotOperationId: undefined });
    expect(p10).to.include({ up: false, state: 'down', nodes: 0, memoryTotalBytes: 0, vcpus: 0 });
  });
});

describe('coordinator/console/web/model/event-summary', () => {
  it('renders each kind of event as one compact line', () => {
    const cases: Array<[CoordinatorEventJson, string, string, string]> = [
      [{ unixMs: 1, phase: { operationId: 'op', hostname: 'vo-bio-01', phase: 'PHASE_PT', edge: 'EDGE_END', durationMs: 96_800, details: { cache_hit: 'false', bytes: '3' } } }, 'phase', 'vo-bio-01', 'PT end 96.8 s bytes=3 cache_hit=false'],
      [{ unixMs: 1, operation: { id: 'op', kind: 'OPERATION_KIND_DRAIN', state: 'OPERATION_STATE_FAILED', node: 'vo-bio-01', host: 'phys01', attempt: 2, error: 'boom' } }, 'operation', 'vo-bio-01', 'drain failed on phys01 attempt 2: boom'],
      [{ unixMs: 1, node: { hostname: 'vo-bio-01', state: 'NODE_STATE_RUNNING', vo: 'bio', host: 'phys01' } }, 'node', 'vo-bio-01', 'running vo=bio host=phys01'],
      [{ unixMs: 1, host: { name: 'phys01', state: 'HOST_STATE_DOWN' } }, 'host', 'phys01', 'down'],
      [{ unixMs: 1, policy: { file: 'policy.yaml', rejectedError: 'a\nb' } }, 'policy', 'policy.yaml', 'rejected: a; b'],
    ];
    for (const [event, kind, subject, text] of cases) expect(summarizeEvent(event)).to.include({ kind, subject, text });
    expect(summarizeEvent(cases[1]![0]).tone).to.equal('bad');
    expect(summarizeEvent(cases[1]![0]).operationId).to.equal('op');
  });
});

describe('coordinator/console/web/model/format', () => {
  it('round-trips datetime-local values in local time', () => {
    const ms = new Date(2025, 2, 9, 14, 5).getTime();
    expect(toDatetimeLocal(ms)).to.equal('2025-03-09T14:05');
    expect(fromDatetimeLocal('2025-03-09T14:05')).to.equal(ms);
    expect(fromDatetimeLocal('')).to.equal(undefined);
    expect(fromDatetimeLocal('yesterday')).to.equal(undefined);
  });

  it('shortens phase names and prints rates', () => {
    expect(phaseShort('PHASE_VMB')).to.equal('VMB');
    expect(phaseShort('DRN')).to.equal('DRN');
    expect(formatRate(12_500_000)).to.equal('100 Mbit/s');
    expect(formatRate(1_250_000)).to.equal('10.0 Mbit/s');
    expect(formatRate(0)).to.equal('-');
  });
});
