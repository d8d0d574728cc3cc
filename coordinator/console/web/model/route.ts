import type { NodeFilter } from './node-query.js';

/** The views, by hash route. */
export type Route =
  | { view: 'overview' }
  | { view: 'hosts' }
  | { view: 'nodes'; filter: NodeFilter; page: number }
  | { view: 'operations' }
  | { view: 'operation'; id: string }
  | { view: 'layers' }
  | { view: 'events' }
  | { view: 'notfound'; path: string };

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    out.set(decode(eq === -1 ? pair : pair.slice(0, eq)), eq === -1 ? '' : decode(pair.slice(eq + 1)));
  }
  return out;
}

/**
 * The route of a location hash: `#/`, `#/hosts`, `#/nodes?vo=&state=&host=&q=&page=`
 * (page 1-based in the hash, 0-based in the route), `#/operations`,
 * `#/operations/<id>`, `#/layers`, `#/events`. An empty hash is the overview.
 */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = (q === -1 ? raw : raw.slice(0, q)).replace(/\/+$/, '') || '/';
  const query = parseQuery(q === -1 ? '' : raw.slice(q + 1));
  const parts = path.split('/').filter(Boolean);
  switch (parts[0]) {
    case undefined:
      return { view: 'overview' };
    case 'hosts':
    case 'layers':
    case 'events':
      return parts.length === 1 ? { view: parts[0] } : { view: 'notfound', path };
    case 'nodes': {
      const filter: NodeFilter = {};
      for (const [key, field] of [['vo', 'vo'], ['state', 'state'], ['host', 'host'], ['q', 'text']] as const) {
        const v = query.get(key);
        if (v) filter[field] = v;
      }
      const page = Math.max(0, Math.floor(Number(query.get('page') ?? '1')) - 1 || 0);
      return { view: 'nodes', filter, page };
    }
    case 'operations':
      if (parts.length === 1) return { view: 'operations' };
      if (parts.length === 2) return { view: 'operation', id: decode(parts[1]!) };
      return { view: 'notfound', path };
    default:
      return { view: 'notfound', path };
  }
}

/** The hash of the nodes view with a filter and a 0-based page (empty fields and page 0 left out). */
export function nodesHash(filter: NodeFilter, page = 0): string {
  const pairs: string[] = [];
  for (const [key, value] of [['vo', filter.vo], ['state', filter.state], ['host', filter.host], ['q', filter.text]] as const) {
    if (value) pairs.push(`${key}=${encodeURIComponent(value)}`);
  }
  if (page > 0) pairs.push(`page=${page + 1}`);
  return `#/nodes${pairs.length ? `?${pairs.join('&')}` : ''}`;
}

/** The hash of an operation's timeline. */
export function operationHash(id: string): string {
  return `#/operations/${encodeURIComponent(id)}`;
}
