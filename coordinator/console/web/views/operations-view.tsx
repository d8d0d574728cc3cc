import type { JSX } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { formatDateTime, formatDuration, formatSeconds } from '../model/format.js';
import { phaseRank } from '../model/gantt-layout.js';
import { operationHash } from '../model/route.js';
import type { OperationEntry } from '../model/site-model.js';
import { isOperationFinished, OPERATION_KIND } from '../model/wire-names.js';
import { Badge, EmptyRow, label } from './common.js';
import type { Site } from './site.js';

/** The operation's total: the coordinator's, else finished − created once it finished. */
function totalOf(e: OperationEntry): string {
  if (e.totalMs) return `${formatSeconds(e.totalMs)} s`;
  const o = e.operation;
  if (isOperationFinished(o) && o.finishedUnixMs && o.createdUnixMs) return formatDuration(o.finishedUnixMs - o.createdUnixMs);
  return '-';
}

function OperationRow({ entry }: { entry: OperationEntry }): JSX.Element {
  const o = entry.operation;
  const state = label(o.state, 'OPERATION_STATE_');
  const phases = [...entry.durations.entries()].sort(([a], [b]) => phaseRank(a) - phaseRank(b));
  return (
    <tr data-testid={`op-row-${o.id}`} class={state === 'failed' ? 'row-bad' : undefined}>
      <td class="nowrap">{formatDateTime(o.createdUnixMs)}</td>
      <td>
        <a href={operationHash(o.id)} class="mono" title={o.id}>
          {o.id.slice(0, 8)}
        </a>
      </td>
      <td>{label(o.kind, 'OPERATION_KIND_')}</td>
      <td>
        <Badge text={state} />
      </td>
      <td class="mono">{o.node || '-'}</td>
      <td>{o.vo || '-'}</td>
      <td>{o.host || '-'}</td>
      <td class="num">{o.attempt ?? 0}</td>
      <td>{o.trigger || '-'}</td>
      <td class="num">{totalOf(entry)}</td>
      <td class="phases small">
        {phases.map(([p, ms]) => (
          <span key={p} class="chip">
            {p} {formatSeconds(ms)}
          </span>
        ))}
      </td>
      <td class="wrap error-text small">{o.error ?? ''}</td>
    </tr>
  );
}

/** `#/operations`: the recent deployments, drains and removals, newest first, kept live by events. */
export function OperationsView({ site }: { site: Site }): JSX.Element {
  const { model } = site;
  const [kind, setKind] = useState('');
  const all = useMemo(() => [...model.operations.values()].sort((a, b) => (b.operation.createdUnixMs ?? 0) - (a.operation.createdUnixMs ?? 0)), [model.versions.operations]);
  const rows = kind ? all.filter((e) => e.operation.kind === kind) : all;
  return (
    <div class="view">
      <section class="panel">
        <h2>
          Recent operations <span class="muted">{rows.length}</span>
        </h2>
        <div class="toolbar">
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)} data-testid="op-filter-kind">
            <option value="">all kinds</option>
            {Object.values(OPERATION_KIND).map((k) => (
              <option key={k} value={k}>
                {label(k, 'OPERATION_KIND_')}
              </option>
            ))}
          </select>
        </div>
        <table class="grid" data-testid="op-table">
          <thead>
            <tr>
              <th>Created</th>
              <th>Id</th>
              <th>Kind</th>
              <th>State</th>
              <th>Node</th>
              <th>VO</th>
              <th>Host</th>
              <th class="num">Attempt</th>
              <th>Trigger</th>
              <th class="num">Total</th>
              <th>Phases (s)</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>{rows.length ? rows.map((e) => <OperationRow key={e.operation.id} entry={e} />) : <EmptyRow columns={12} text="no operation recorded" />}</tbody>
        </table>
      </section>
    </div>
  );
}
