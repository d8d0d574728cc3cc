import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { NodeJson } from '../model/api-types.js';
import { formatAge, formatDateTime } from '../model/format.js';
import { filterNodes, NODE_PAGE_SIZE, nodeFacets, paginate, sortNodes, type NodeFilter, type NodeSortKey } from '../model/node-query.js';
import { nodesHash } from '../model/route.js';
import { NODE_STATES } from '../model/wire-names.js';
import { Badge, EmptyRow, label, OpLink } from './common.js';
import { useThrottledValue } from './hooks.js';
import type { Site } from './site.js';

const COLUMNS: ReadonlyArray<{ key: NodeSortKey; title: string }> = [
  { key: 'hostname', title: 'Hostname' },
  { key: 'vo', title: 'VO' },
  { key: 'state', title: 'State' },
  { key: 'host', title: 'Host' },
  { key: 'ip', title: 'IP' },
  { key: 'since', title: 'Since' },
];

function NodeRow({ node, now }: { node: NodeJson; now: number }): JSX.Element {
  const state = label(node.state, 'NODE_STATE_');
  return (
    <tr data-testid={`node-row-${node.hostname}`} class={state === 'failed' ? 'row-bad' : undefined}>
      <td class="mono">{node.hostname}</td>
      <td>{node.vo || '-'}</td>
      <td>
        <Badge text={state} title={node.error} />
        {node.error && <span class="error-text small"> {node.error}</span>}
      </td>
      <td>{node.host ? <a href={nodesHash({ host: node.host })}>{node.host}</a> : <span class="muted">-</span>}</td>
      <td class="mono">{node.ip || '-'}</td>
      <td class="nowrap" title={formatDateTime(node.sinceUnixMs)}>
        {formatAge(node.sinceUnixMs ?? 0, now)}
      </td>
      <td>
        <OpLink id={node.operationId} />
      </td>
    </tr>
  );
}

function Select({ value, options, all, onChange, testid, format }: { value: string; options: readonly string[]; all: string; onChange: (v: string) => void; testid: string; format?: (v: string) => string }): JSX.Element {
  return (
    <select value={value} onChange={(e) => onChange(e.currentTarget.value)} data-testid={testid}>
      <option value="">{all}</option>
      {options.map((o) => (
        <option key={o} value={o}>
          {format ? format(o) : o}
        </option>
      ))}
    </select>
  );
}

/** `#/nodes`: every leased node, filtered, sorted and paginated (100 a page); the filter lives in the hash. */
export function NodesView({ site, initialFilter, initialPage }: { site: Site; initialFilter: NodeFilter; initialPage: number }): JSX.Element {
  const { model } = site;
  const [filter, setFilter] = useState<NodeFilter>(initialFilter);
  const [page, setPage] = useState(initialPage);
  const [sort, setSort] = useState<{ key: NodeSortKey; desc: boolean }>({ key: 'hostname', desc: false });
  // Filter and sort are O(nodes log nodes): recomputed a few times a second at most during a burst.
  const nodesVersion = useThrottledValue(model.versions.nodes, 400);
  const facets = useMemo(() => nodeFacets(model.nodes.values()), [nodesVersion]);
  const rows = useMemo(() => sortNodes(filterNodes(model.nodes.values(), filter), sort.key, sort.desc), [nodesVersion, filter, sort]);
  const shown = paginate(rows, page, NODE_PAGE_SIZE);

  // Mirror filter and page in the hash without adding history entries per keystroke.
  useEffect(() => {
    const hash = nodesHash(filter, shown.page);
    if (window.location.hash !== hash) window.history.replaceState(null, '', hash);
  }, [filter, shown.page]);

  const update = (patch: Partial<NodeFilter>): void => {
    setFilter((f) => ({ ...f, ...patch }));
    setPage(0);
  };
  const sortBy = (key: NodeSortKey): void => setSort((s) => ({ key, desc: s.key === key ? !s.desc : false }));
  const states = [...new Set<string>([...NODE_STATES, ...facets.states])];
  const now = Date.now();

  return (
    <div class="view">
      <section class="panel">
        <h2>
          Nodes <span class="muted">{model.nodes.size} leased</span>
        </h2>
        <div class="toolbar">
          <Select value={filter.vo ?? ''} options={facets.vos} all="all VOs" onChange={(v) => update({ vo: v })} testid="node-filter-vo" />
          <Select value={filter.state ?? ''} options={states} all="all states" onChange={(v) => update({ state: v })} testid="node-filter-state" format={(s) => label(s, 'NODE_STATE_')} />
          <Select value={filter.host ?? ''} options={facets.hosts} all="all hosts" onChange={(v) => update({ host: v })} testid="node-filter-host" />
          <input type="search" placeholder="hostname, IP, operation…" value={filter.text ?? ''} onInput={(e) => update({ text: e.currentTarget.value })} data-testid="node-filter-text" />
          <span class="spacer" />
          <span class="muted" data-testid="node-page-info">
            {shown.total ? `${shown.first}–${shown.last} of ${shown.total}` : '0 nodes'}
          </span>
          <button type="button" disabled={shown.page === 0} onClick={() => setPage(shown.page - 1)} data-testid="node-page-prev">
            ‹ prev
          </button>
          <span class="muted">
            page {shown.page + 1} / {shown.pages}
          </span>
          <button type="button" disabled={shown.page >= shown.pages - 1} onClick={() => setPage(shown.page + 1)} data-testid="node-page-next">
            next ›
          </button>
        </div>
        <table class="grid" data-testid="node-table">
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th key={c.key} class="sortable" onClick={() => sortBy(c.key)} aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : undefined}>
                  {c.title}
                  {sort.key === c.key ? (sort.desc ? ' ▾' : ' ▴') : ''}
                </th>
              ))}
              <th>Operation</th>
            </tr>
          </thead>
          <tbody>{shown.rows.length ? shown.rows.map((n) => <NodeRow key={n.hostname} node={n} now={now} />) : <EmptyRow columns={7} text="no node matches" />}</tbody>
        </table>
      </section>
    </div>
  );
}
