import type { CoordinatorCluster } from '../../../shared/gen/vonode/v1/coordinator.js';
import { renderTable } from './table.js';

const RED_BOLD = '\u001b[1;31m';
const RESET = '\u001b[0m';

/**
 * Loud lines (red on a terminal) when the coordinators' store cannot take
 * writes: the coordinator serves reads but every change (deployments,
 * removals, registrations, policy) fails until it can. Empty when it can.
 */
export function renderStoreError(cluster: CoordinatorCluster | undefined, opts: { color: boolean }): string[] {
  if (!cluster?.storeError) return [];
  const [first = '', ...more] = cluster.storeError.split('\n');
  const loud = [
    `!!! STORE REFUSES WRITES (${cluster.store || 'store'}): ${first}`,
    ...more.map((l) => `!!! ${l}`),
    '!!! deployments, removals, agent registrations and policy changes fail until it takes writes again; see Coordinators below',
  ];
  return loud.map((l) => (opts.color ? `${RED_BOLD}${l}${RESET}` : l));
}

/**
 * The "Coordinators" section of `vonode status`: the store, which
 * coordinator answered and in what role, the leader and its term, every
 * coordinator campaigning with its role, and each etcd member's health.
 */
export function renderCluster(cluster: CoordinatorCluster): string[] {
  const lines = ['Coordinators', `store        ${storeLine(cluster)}`, `answered by  ${cluster.self || '-'} (${cluster.role || 'unknown role'})`];
  if (cluster.role !== 'single') {
    lines.push(
      cluster.leader
        ? `leader       ${cluster.leader}, term ${cluster.term}`
        : "leader       none elected now: changes fail until one is (check the etcd members' health below)",
    );
  }
  if (cluster.coordinators.length) {
    const columns = [{ header: 'COORDINATOR' }, { header: 'ROLE' }, { header: 'TERM', right: true }];
    lines.push('', ...renderTable(columns, cluster.coordinators.map((c) => [c.address, c.role || '-', String(c.term)])));
  }
  if (cluster.storeMembers.length) {
    const columns = ['ETCD MEMBER', 'ENDPOINT', 'HEALTH', 'LEADER', 'RAFT INDEX', 'ERROR'].map((header) => ({ header, right: header === 'RAFT INDEX' }));
    const rows = cluster.storeMembers.map((m) => [
      m.name || '-', m.endpoint || '-', m.healthy ? 'healthy' : 'UNHEALTHY', m.isLeader ? 'leader' : '-', String(m.raftIndex), m.error.split('\n')[0] || '-',
    ]);
    lines.push('', ...renderTable(columns, rows));
  }
  return lines;
}

function storeLine(cluster: CoordinatorCluster): string {
  const refuses = cluster.storeError ? '; REFUSES WRITES (see above)' : '';
  if (cluster.store === 'sqlite') return `sqlite (one coordinator, no HA)${refuses}`;
  const members = cluster.storeMembers;
  const health = members.length ? `, ${members.filter((m) => m.healthy).length} of ${members.length} members healthy` : '';
  return `${cluster.store || '-'}${health}${refuses}`;
}
