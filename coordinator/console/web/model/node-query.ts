import type { NodeJson } from './api-types.js';

/** What the nodes table shows: every field optional, '' or absent means any. */
export interface NodeFilter {
  vo?: string;
  /** A NodeState name, `NODE_STATE_RUNNING`. */
  state?: string;
  host?: string;
  /** Case-insensitive substring of hostname, IP, MAC, VO, host, operation id or error. */
  text?: string;
}

/** Columns the table sorts by. */
export type NodeSortKey = 'hostname' | 'vo' | 'state' | 'host' | 'ip' | 'since';

/** One page of rows. */
export interface Page<T> {
  rows: T[];
  /** 0-based, clamped to the pages there are. */
  page: number;
  /** At least 1 (an empty table has one empty page). */
  pages: number;
  /** Rows over all pages. */
  total: number;
  /** 1-based index of the first row shown, 0 when none. */
  first: number;
  /** 1-based index of the last row shown. */
  last: number;
}

/** Rows per page of the nodes table. */
export const NODE_PAGE_SIZE = 100;

// Numeric-aware: vo-bio-2 sorts before vo-bio-10, 10.0.0.9 before 10.0.0.10.
const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** The nodes that pass every set field of the filter, in input order. */
export function filterNodes(nodes: Iterable<NodeJson>, filter: NodeFilter): NodeJson[] {
  const text = filter.text?.trim().toLowerCase() ?? '';
  const out: NodeJson[] = [];
  for (const n of nodes) {
    if (filter.vo && n.vo !== filter.vo) continue;
    if (filter.state && n.state !== filter.state) continue;
    if (filter.host && n.host !== filter.host) continue;
    if (text && !matchesText(n, text)) continue;
    out.push(n);
  }
  return out;
}

function matchesText(n: NodeJson, text: string): boolean {
  for (const v of [n.hostname, n.ip, n.mac, n.vo, n.host, n.operationId, n.error]) {
    if (v && v.toLowerCase().includes(text)) return true;
  }
  return false;
}

/** Sorts in place by `key` (ties by hostname) and returns the array. */
export function sortNodes(nodes: NodeJson[], key: NodeSortKey = 'hostname', descending = false): NodeJson[] {
  const sign = descending ? -1 : 1;
  const value = (n: NodeJson): string | number => (key === 'since' ? (n.sinceUnixMs ?? 0) : (n[key] ?? ''));
  return nodes.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : collator.compare(String(va), String(vb));
    return c !== 0 ? sign * c : collator.compare(a.hostname, b.hostname);
  });
}

/** Page `page` (0-based; out-of-range values are clamped) of `rows`. Throws RangeError for a page size below 1. */
export function paginate<T>(rows: readonly T[], page: number, pageSize: number = NODE_PAGE_SIZE): Page<T> {
  if (!(pageSize >= 1)) throw new RangeError(`page size must be at least 1, got ${pageSize}`);
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const p = Math.min(pages - 1, Math.max(0, Math.floor(Number.isFinite(page) ? page : 0)));
  const start = p * pageSize;
  const slice = rows.slice(start, start + pageSize);
  return { rows: slice, page: p, pages, total: rows.length, first: slice.length ? start + 1 : 0, last: start + slice.length };
}

/** The distinct VOs, states and hosts among the nodes, sorted: the choices of the filter selects. */
export function nodeFacets(nodes: Iterable<NodeJson>): { vos: string[]; states: string[]; hosts: string[] } {
  const vos = new Set<string>();
  const states = new Set<string>();
  const hosts = new Set<string>();
  for (const n of nodes) {
    if (n.vo) vos.add(n.vo);
    if (n.state) states.add(n.state);
    if (n.host) hosts.add(n.host);
  }
  const sorted = (s: Set<string>): string[] => [...s].sort(collator.compare);
  return { vos: sorted(vos), states: sorted(states), hosts: sorted(hosts) };
}
