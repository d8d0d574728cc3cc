import { expect } from 'chai';
import type { NodeJson } from '../../../../../coordinator/console/web/model/api-types.js';
import { filterNodes, nodeFacets, paginate, sortNodes } from '../../../../../coordinator/console/web/model/node-query.js';
import { nodesHash, parseRoute } from '../../../../../coordinator/console/web/model/route.js';

const VOS = ['bio', 'fusion', 'atlas'];
const STATES = ['NODE_STATE_RUNNING', 'NODE_STATE_DEPLOYING', 'NODE_STATE_DRAINING'];

/** 5,000 nodes in a shuffled order: vo-<vo>-<n> on phys<n % 40>. */
function site(): NodeJson[] {
  const nodes: NodeJson[] = [];
  for (let i = 0; i < 5000; i++) {
    const vo = VOS[i % 3]!;
    nodes.push({ hostname: `vo-${vo}-${i}`, vo, state: STATES[i % 7 === 0 ? 1 : i % 11 === 0 ? 2 : 0], host: `phys${String(i % 40).padStart(2, '0')}`, ip: `10.1.${i >> 8}.${i & 255}`, operationId: `op-${i}`, sinceUnixMs: i });
  }
  // Deterministic shuffle: the table must not depend on arrival order.
  return nodes.map((n, i) => ({ n, k: (i * 7919) % 5003 })).sort((a, b) => a.k - b.k).map((x) => x.n);
}

describe('coordinator/console/web/model/node-query', () => {
  const nodes = site();

  it('filters by VO, state and host together', () => {
    const rows = filterNodes(nodes, { vo: 'bio', state: 'NODE_STATE_DEPLOYING', host: 'phys03' });
    expect(rows.length).to.be.greaterThan(0);
    for (const n of rows) expect(n).to.include({ vo: 'bio', state: 'NODE_STATE_DEPLOYING', host: 'phys03' });
    const expected = nodes.filter((n) => n.vo === 'bio' && n.state === 'NODE_STATE_DEPLOYING' && n.host === 'phys03').length;
    expect(rows).to.have.length(expected);
  });

  it('matches text case-insensitively in hostname, IP and operation id; empty fields filter nothing', () => {
    expect(filterNodes(nodes, { text: ' VO-FUSION-4999 ' }).map((n) => n.hostname)).to.deep.equal(['vo-fusion-4999']);
    expect(filterNodes(nodes, { text: '10.1.19.135' }).map((n) => n.hostname)).to.deep.equal(['vo-fusion-4999']);
    expect(filterNodes(nodes, { text: 'op-42' }).map((n) => n.operationId).every((id) => id!.includes('op-42'))).to.equal(true);
    expect(filterNodes(nodes, { vo: '', state: '', host: '', text: '' })).to.have.length(5000);
    expect(filterNodes(nodes, { text: 'nothing-like-this' })).to.deep.equal([]);
  });

  it('sorts hostnames numerically and by other columns with hostname as the tie-break', () => {
    const small: NodeJson[] = [{ hostname: 'vo-bio-10', vo: 'bio' }, { hostname: 'vo-bio-9', vo: 'bio' }, { hostname: 'vo-atlas-2', vo: 'atlas' }];
    expect(sortNodes([...small]).map((n) => n.hostname)).to.deep.equal(['vo-atlas-2', 'vo-bio-9', 'vo-bio-10']);
    expect(sortNodes([...small], 'vo', true).map((n) => n.hostname)).to.deep.equal(['vo-bio-9', 'vo-bio-10', 'vo-atlas-2']);
    const bySince = sortNodes(filterNodes(nodes, { vo: 'atlas' }), 'since', true);
    expect(bySince[0]!.sinceUnixMs).to.equal(4997);
  });

  it('paginates 100 rows a page, clamping the page number', () => {
    const rows = sortNodes(filterNodes(nodes, { vo: 'bio' })); // 1667 nodes
    const first = paginate(rows, 0);
    expect(first).to.include({ page: 0, pages: 17, total: 1667, first: 1, last: 100 });
    expect(first.rows[0]!.hostname).to.equal('vo-bio-0');
    const last = paginate(rows, 16);
    expect(last.rows).to.have.length(67);
    expect(last).to.include({ first: 1601, last: 1667 });
    expect(paginate(rows, 99).page).to.equal(16);
    expect(paginate(rows, -3).page).to.equal(0);
    expect(paginate([], 5)).to.deep.equal({ rows: [], page: 0, pages: 1, total: 0, first: 0, last: 0 });
    expect(() => paginate(rows, 0, 0)).to.throw(RangeError);
  });

  it('lists the distinct VOs, states and hosts for the filter choices', () => {
    const f = nodeFacets(nodes);
    expect(f.vos).to.deep.equal(['atlas', 'bio', 'fusion']);
    expect(f.states).to.have.members(STATES);
    expect(f.hosts).to.have.length(40);
    expect(f.hosts[0]).to.equal('phys00');
  });
});

describe('coordinator/console/web/model/route', () => {
  it('parses the views', () => {
    expect(parseRoute('')).to.deep.equal({ view: 'overview' });
    expect(parseRoute('#/')).to.deep.equal({ view: 'overview' });
    expect(parseRoute('#/hosts')).to.deep.equal({ view: 'hosts' });
    expect(parseRoute('#/events/')).to.deep.equal({ view: 'events' });
    expect(parseRoute('#/operations')).to.deep.equal({ view: 'operations' });
    expect(parseRoute('#/operations/3f0c-9a%2Fx')).to.deep.equal({ view: 'operation', id: '3f0c-9a/x' });
    expect(parseRoute('#/layers')).to.deep.equal({ view: 'layers' });
    expect(parseRoute('#/nope')).to.deep.equal({ view: 'notfound', path: '/nope' });
  });

  it('round-trips the nodes filter and page through the hash', () => {
    const hash = nodesHash({ vo: 'bio', state: 'NODE_STATE_RUNNING', host: 'phys 01', text: 'a&b' }, 2);
    expect(hash).to.equal('#/nodes?vo=bio&state=NODE_STATE_RUNNING&host=phys%2001&q=a%26b&page=3');
    expect(parseRoute(hash)).to.deep.equal({ view: 'nodes', filter: { vo: 'bio', state: 'NODE_STATE_RUNNING', host: 'phys 01', text: 'a&b' }, page: 2 });
    expect(parseRoute('#/nodes?page=zz')).to.deep.equal({ view: 'nodes', filter: {}, page: 0 });
    expect(nodesHash({})).to.equal('#/nodes');
  });
});
