import type { JSX } from 'preact';
import { useMemo } from 'preact/hooks';
import { formatAge, formatBytes, formatPercent, shortId } from '../model/format.js';
import { hostRows, nodesPerHost, runningOperationPerHost, type HostRow } from '../model/host-rows.js';
import { nodesHash } from '../model/route.js';
import { Badge, EmptyRow, Meter, OpLink } from './common.js';
import { useThrottledValue } from './hooks.js';
import type { Site } from './site.js';

/** Cached images shown by sha256 prefix before "+N more". */
const IMAGES_SHOWN = 3;

function Images({ row }: { row: HostRow }): JSX.Element {
  const shown = row.cachedImages.slice(0, IMAGES_SHOWN);
  const more = row.cachedImages.length - shown.length;
  return (
    <span title={row.cachedImages.join('\n')}>
      <span class="count">{row.cachedImages.length}</span>
      {shown.map((sha) => (
        <span key={sha} class="chip mono">
          {shortId(sha, 12)}
        </span>
      ))}
      {more > 0 && <span class="muted"> +{more}</span>}
      {row.fetching.map((h) => (
        <span key={`f-${h.sha256}`} class="chip chip-busy mono" title={`fetching ${h.sha256}: ${formatBytes(h.verifiedBytes ?? 0)} of ${formatBytes(h.sizeBytes ?? 0)}`}>
          ↓ {shortId(h.sha256 ?? '', 8)} {formatPercent(h.verifiedBytes ?? 0, h.sizeBytes ?? 0)}
        </span>
      ))}
    </span>
  );
}

function HostTableRow({ row, now }: { row: HostRow; now: number }): JSX.Element {
  const mem = `${formatBytes(row.memoryUsedBytes)} / ${formatBytes(row.memoryTotalBytes)}`;
  return (
    <tr data-testid={`host-row-${row.name}`} class={row.up ? undefined : 'row-bad'}>
      <td title={row.address}>{row.name}</td>
      <td>
        <Badge text={row.state} />
      </td>
      <td class="nowrap">
        <Meter part={row.memoryUsedBytes} total={row.memoryTotalBytes} title={`used ${mem}; committed to VMs ${formatBytes(row.memoryCommittedBytes)}`} />{' '}
        <span>{mem}</span>
      </td>
      <td class="num">{row.vcpus || '-'}</td>
      <td class="num">
        <a href={nodesHash({ host: row.name })} title="its nodes">
          {row.runningNodes} / {row.nodes}
        </a>
      </td>
      <td>
        <Images row={row} />
      </td>
      <td>
        <OpLink id={row.slotOperationId} />
      </td>
      <td class="num">{formatAge(row.lastSeenUnixMs, now)}</td>
    </tr>
  );
}

/** `#/hosts`: the physical hosts with their agents' last facts. */
export function HostsView({ site }: { site: Site }): JSX.Element {
  const { model } = site;
  // Counting nodes per host is O(nodes): a few times a second at most during a burst.
  const nodesVersion = useThrottledValue(model.versions.nodes, 300);
  const perHost = useMemo(() => nodesPerHost(model.nodes.values()), [nodesVersion]);
  const runningOps = useMemo(() => runningOperationPerHost(model.operations.values()), [model.versions.operations]);
  const rows = useMemo(() => hostRows(model.hosts.values(), perHost, runningOps, model.operations), [model.versions.hosts, perHost, runningOps]);
  const now = Date.now();
  const up = rows.filter((r) => r.up).length;
  return (
    <div class="view">
      <section class="panel">
        <h2>
          Hosts <span class="muted">{up} up, {rows.length - up} down</span>
        </h2>
        <table class="grid" data-testid="host-table">
          <thead>
            <tr>
              <th>Host</th>
              <th>State</th>
              <th>Memory used / total</th>
              <th class="num">vCPUs</th>
              <th class="num" title="running / all vonode nodes on the host">Nodes</th>
              <th>Cached images</th>
              <th title="the deployment or removal holding the host's slot">Slot</th>
              <th class="num">Last seen</th>
            </tr>
          </thead>
          <tbody>{rows.length ? rows.map((r) => <HostTableRow key={r.name} row={r} now={now} />) : <EmptyRow columns={8} text="no agent registered" />}</tbody>
        </table>
      </section>
    </div>
  );
}
