import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { OperationDetailJson, OperationJson, PhaseMarkJson } from '../model/api-types.js';
import { formatClock, formatDateTime, formatSeconds, phaseShort } from '../model/format.js';
import { layoutGantt } from '../model/gantt-layout.js';
import { nodesHash } from '../model/route.js';
import { Throttle } from '../model/throttle.js';
import { isOperationFinished, isRemoval } from '../model/wire-names.js';
import { Badge, label } from './common.js';
import { GanttChart } from './gantt-chart.js';
import type { Site } from './site.js';

type Load = { state: 'loading' } | { state: 'missing' } | { state: 'error'; message: string } | { state: 'ok'; detail: OperationDetailJson };

function Facts({ op }: { op: OperationJson }): JSX.Element {
  const rows: Array<[string, JSX.Element | string]> = [
    ['id', <span class="mono">{op.id}</span>],
    ['kind', label(op.kind, 'OPERATION_KIND_')],
    ['state', <Badge text={label(op.state, 'OPERATION_STATE_')} />],
    ['node', op.node ? <a href={nodesHash({ text: op.node })}>{op.node}</a> : '-'],
    ['VO', op.vo || '-'],
    ['host', op.host || '-'],
    ['attempt', String(op.attempt ?? 0)],
    ['trigger', op.trigger || '-'],
    ['created', formatDateTime(op.createdUnixMs)],
    ['finished', formatDateTime(op.finishedUnixMs)],
  ];
  return (
    <dl class="facts" data-testid="op-facts">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
      {op.error && (
        <div class="facts-wide">
          <dt>error</dt>
          <dd class="error-text">{op.error}</dd>
        </div>
      )}
    </dl>
  );
}

function MarksTable({ marks }: { marks: readonly PhaseMarkJson[] }): JSX.Element {
  return (
    <table class="grid small" data-testid="op-marks">
      <thead>
        <tr>
          <th>Time</th>
          <th class="num">Attempt</th>
          <th>Host</th>
          <th>Phase</th>
          <th>Edge</th>
          <th class="num">Duration (s)</th>
          <th>Details</th>
        </tr>
      </thead>
      <tbody>
        {marks.map((m, i) => (
          <tr key={i}>
            <td class="nowrap">{formatClock(m.unixMs)}</td>
            <td class="num">{m.attempt ?? 0}</td>
            <td>{m.host || '-'}</td>
            <td>{phaseShort(m.phase)}</td>
            <td>{m.edge}</td>
            <td class="num">{m.durationMs ? formatSeconds(m.durationMs) : ''}</td>
            <td class="wrap mono">
              {Object.entries(m.details ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** `#/operations/<id>`: one operation's facts and its phase timeline against the paper's 2007 figures; reloaded (at most once a second) as its events arrive. */
export function OperationView({ site, id }: { site: Site; id: string }): JSX.Element {
  const [load, setLoad] = useState<Load>({ state: 'loading' });

  useEffect(() => {
    let live = true;
    const fetchDetail = async (): Promise<void> => {
      try {
        const detail = await site.api.operation(id);
        if (live) setLoad(detail ? { state: 'ok', detail } : { state: 'missing' });
      } catch (e) {
        if (live) setLoad({ state: 'error', message: e instanceof Error ? e.message : String(e) });
      }
    };
    const throttle = new Throttle(1000, site.timers, fetchDetail);
    throttle.poke();
    const unwatch = site.model.watchOperation(id, () => throttle.poke());
    return () => {
      live = false;
      unwatch();
      throttle.stop();
    };
  }, [id, site]);

  const detail = load.state === 'ok' ? load.detail : undefined;
  // Each event about the operation reloads it (above), so the loaded state is the current one.
  const op = detail?.operation;
  const running = op !== undefined && !isOperationFinished(op);
  const layout = useMemo(
    () => (detail ? layoutGantt(detail.phases ?? [], { kind: isRemoval(detail.operation) ? 'removal' : 'deploy', paper2007: detail.paper2007, openUntilMs: running ? Date.now() : undefined }) : undefined),
    [detail, running],
  );

  if (load.state === 'loading') return <div class="panel muted">loading operation {id}…</div>;
  if (load.state === 'missing') return <div class="panel" data-testid="op-missing">no operation {id} is known to the coordinator</div>;
  if (load.state === 'error') return <div class="panel error">{load.message}</div>;
  return (
    <div class="view" data-testid="op-detail">
      <section class="panel">
        <h2>
          {label(op?.kind, 'OPERATION_KIND_')} of {op?.node || '-'} <span class="muted">operation timeline</span>
        </h2>
        {op && <Facts op={op} />}
      </section>
      <section class="panel">
        <h2>Phases</h2>
        {layout && <GanttChart layout={layout} />}
      </section>
      <section class="panel">
        <h2>Phase marks, as recorded</h2>
        <MarksTable marks={detail?.phases ?? []} />
      </section>
    </div>
  );
}
