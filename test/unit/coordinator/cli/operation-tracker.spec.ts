import { expect } from 'chai';
import { Writable } from 'node:stream';
import { changeLine, streamOutcome } from '../../../../coordinator/cli/render/operation-report.js';
import { OperationTracker, type TrackerChange } from '../../../../coordinator/cli/render/operation-tracker.js';
import { BarProgress, LineProgress } from '../../../../coordinator/cli/render/progress-display.js';
import { Edge, Phase } from '../../../../shared/gen/vonode/v1/common.js';
import { OperationKind, OperationState, type CoordinatorEvent, type Operation } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { deployScript } from '../../../helpers/coordinator-double.js';

function feed(events: CoordinatorEvent[]): { tracker: OperationTracker; changes: TrackerChange[] } {
  const tracker = new OperationTracker();
  const changes = events.flatMap((e) => tracker.apply(e));
  return { tracker, changes };
}

const opEvent = (o: Partial<Operation>): CoordinatorEvent => ({
  unixMs: 0,
  event: {
    $case: 'operation',
    value: { id: 'op-1', kind: OperationKind.OPERATION_KIND_DEPLOY, state: OperationState.OPERATION_STATE_RUNNING, vo: 'bio', node: 'vo-bio-01', host: 'phys01', attempt: 1, error: '', createdUnixMs: 0, finishedUnixMs: 0, trigger: 'manual', ...o },
  },
});
const phaseEvent = (phase: Phase, edge: Edge, durationMs = 0): CoordinatorEvent => ({
  unixMs: 0,
  event: { $case: 'phase', value: { operationId: 'op-1', hostname: 'vo-bio-01', phase, edge, monotonicMs: 0, unixMs: 0, durationMs, details: {} } },
});

describe('coordinator/cli/render: operation tracking and streamed output', () => {
  it('follows each operation through its phases and judges success', () => {
    const { tracker } = feed(deployScript({ vo: 'bio', count: 2, host: '' }));
    const ops = tracker.operations();
    expect(ops.map((o) => [o.node, o.status, o.host])).to.deep.equal([['vo-bio-01', 'succeeded', 'phys01'], ['vo-bio-02', 'succeeded', 'phys01']]);
    expect(ops[0]!.phasesDone).to.deep.equal(['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR']);
    const outcome = streamOutcome(ops, 'deploy');
    expect(outcome).to.deep.equal({ ok: true, lines: ['2 of 2 deploy operation(s) succeeded'] });
  });

  it('reports a failure with its error, the phase it stopped in and a hint for that phase', () => {
    const { tracker } = feed(deployScript({ vo: 'bio', count: 2, host: '' }, 'vo-bio-02'));
    const outcome = streamOutcome(tracker.operations(), 'deploy');
    expect(outcome.ok).to.equal(false);
    expect(outcome.lines[0]).to.equal('1 of 2 deploy operation(s) succeeded');
    expect(outcome.lines[1]).to.equal('vo-bio-02 (op op-deploy-2) failed on phys01, in VMR, attempt 1: no DHCP lease within 120 s');
    expect(outcome.lines[2]).to.match(/^ {2}hint: the guest never took its DHCP lease on phys01/);
  });

  it('starts the phases over when the operation is retried on another host', () => {
    const { tracker, changes } = feed([
      opEvent({ state: OperationState.OPERATION_STATE_QUEUED, host: '' }),
      opEvent({}),
      phaseEvent(Phase.PHASE_CR, Edge.EDGE_END, 5),
      phaseEvent(Phase.PHASE_PT, Edge.EDGE_START),
      opEvent({ state: OperationState.OPERATION_STATE_RETRYING, error: 'image download failed' }),
      opEvent({ attempt: 2, host: 'phys02' }),
      phaseEvent(Phase.PHASE_CR, Edge.EDGE_END, 5),
      opEvent({ attempt: 2, host: 'phys02', state: OperationState.OPERATION_STATE_SUCCEEDED }),
    ]);
    const op = tracker.operations()[0]!;
    expect(op).to.deep.include({ status: 'succeeded', host: 'phys02', attempt: 2 });
    expect(op.phasesDone).to.deep.equal(['CR']);
    const lines = changes.map(changeLine).filter((l): l is string => l !== undefined);
    expect(lines.map((l) => l.replace(/\s+/g, ' '))).to.deep.equal([
      'vo-bio-01 queued (deploy bio, op op-1)',
      'vo-bio-01 running on phys01',
      'vo-bio-01 CR 0.01 s phys01',
      'vo-bio-01 retrying on another host: image download failed',
      'vo-bio-01 running on phys02 (attempt 2)',
      'vo-bio-01 CR 0.01 s phys02',
      'vo-bio-01 succeeded',
    ]);
  });

  it('ignores repeated events and events of no operation', () => {
    const { changes } = feed([
      opEvent({}),
      opEvent({}),
      phaseEvent(Phase.PHASE_CR, Edge.EDGE_END, 5),
      phaseEvent(Phase.PHASE_CR, Edge.EDGE_END, 5),
      { unixMs: 0, event: { $case: 'policy', value: { file: '', sha256: '', loadedUnixMs: 0, rejectedError: '' } } },
      { unixMs: 0, event: undefined },
    ]);
    expect(changes.map((c) => c.type)).to.deep.equal(['state', 'phase-end']);
  });

  it('says which operations were still open when the stream ended, and fails when none started', () => {
    const { tracker } = feed([opEvent({}), phaseEvent(Phase.PHASE_PT, Edge.EDGE_START)]);
    const outcome = streamOutcome(tracker.operations(), 'deploy');
    expect(outcome.ok).to.equal(false);
    expect(outcome.lines[1]).to.match(/vo-bio-01 \(op op-1\) was still running in PT when the stream ended/);
    expect(outcome.lines[2]).to.match(/vonode events/);
    expect(streamOutcome([], 'drain')).to.deep.equal({ ok: false, lines: ['the coordinator started no drain operation; see `vonode events` and its log'] });
  });

  it('LineProgress prints a line per phase end and per state change, none for phase starts', () => {
    const out: string[] = [];
    const display = new LineProgress((t) => out.push(t));
    for (const c of feed(deployScript({ vo: 'bio', count: 1, host: '' })).changes) display.update(c);
    display.stop();
    expect(out).to.have.length(2 + 6 + 1);
    expect(out.every((l) => l.endsWith('\n') && l.startsWith('vo-bio-01'))).to.equal(true);
    expect(out[3]).to.match(/^vo-bio-01 +PT +2\.31 s {2}phys01 {2}cache_hit=false\n$/);
  });

  it('BarProgress draws one bar per node with its current phase on a terminal', () => {
    let drawn = '';
    const tty = Object.assign(new Writable({ write: (chunk: Buffer, _enc, cb) => ((drawn += chunk.toString()), cb()) }), { isTTY: true, columns: 120 });
    const display = new BarProgress(tty);
    const events = deployScript({ vo: 'bio', count: 2, host: '' }, 'vo-bio-02');
    for (const c of feed(events).changes) display.update(c);
    display.stop();
    expect(drawn).to.match(/vo-bio-01 +\|[█░]+\| 8\/8 succeeded 6\.61 s/);
    expect(drawn).to.match(/vo-bio-02 +\|[█░]+\| 4\/8 FAILED in VMR/);
    expect(drawn).to.include('vo-bio-02     FAILED in 125.0 s: no DHCP lease within 120 s');
  });
});
