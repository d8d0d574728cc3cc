import { expect } from 'chai';
import { renderCluster, renderStoreError } from '../../../../coordinator/cli/render/cluster-view.js';
import { renderStatus } from '../../../../coordinator/cli/render/status-view.js';
import { StatusResponse, type CoordinatorCluster } from '../../../../shared/gen/vonode/v1/coordinator.js';
import { cannedData } from '../../../helpers/coordinator-double.js';

const NOW = 1_790_000_000_000 + 90_000;
const cells = (line: string | undefined): string[] => (line ?? '').trim().split(/\s{2,}/);

/** Three coordinators on etcd, answered by a standby; one etcd member down. */
function haCluster(over: Partial<CoordinatorCluster> = {}): CoordinatorCluster {
  return {
    store: 'etcd', role: 'standby', self: '10.0.0.2:7080', leader: '10.0.0.1:7080', term: 57,
    coordinators: [
      { address: '10.0.0.1:7080', role: 'leader', term: 57 },
      { address: '10.0.0.2:7080', role: 'standby', term: 60 },
      { address: '10.0.0.3:7080', role: 'standby', term: 61 },
    ],
    storeMembers: [
      { name: 'etcd-1', endpoint: 'https://10.0.0.1:2379', healthy: true, isLeader: true, error: '', raftIndex: 1234 },
      { name: 'etcd-2', endpoint: 'https://10.0.0.2:2379', healthy: true, isLeader: false, error: '', raftIndex: 1234 },
      { name: 'etcd-3', endpoint: 'https://10.0.0.3:2379', healthy: false, isLeader: false, error: 'context deadline exceeded\nmore', raftIndex: 0 },
    ],
    storeError: '',
    ...over,
  };
}

describe('coordinator/cli/render/cluster-view: the coordinators of vonode status', () => {
  it('prints no Coordinators section for a coordinator that does not describe its cluster', () => {
    const lines = renderStatus(cannedData().status, 'c:1', { nowMs: NOW, color: false });
    expect(lines.some((l) => /Coordinators|STORE/.test(l))).to.equal(false);
  });

  it('lists the store, who answered in what role, the leader and term, every coordinator and every etcd member, after the rest', () => {
    const status = { ...cannedData().status, cluster: haCluster() };
    const lines = renderStatus(status, '10.0.0.2:7080', { nowMs: NOW, color: false });
    expect(lines[0]).to.equal('site        ucm  (coordinator 10.0.0.2:7080, up 1m30s)');
    const at = lines.indexOf('Coordinators');
    expect(at).to.be.greaterThan(lines.findIndex((l) => l.startsWith('VO')));
    expect(lines[at - 1]).to.equal('');
    expect(lines.slice(at, at + 4)).to.deep.equal([
      'Coordinators',
      'store        etcd, 2 of 3 members healthy',
      'answered by  10.0.0.2:7080 (standby)',
      'leader       10.0.0.1:7080, term 57',
    ]);
    const coordinators = lines.findIndex((l) => l.startsWith('COORDINATOR'));
    expect(cells(lines[coordinators])).to.deep.equal(['COORDINATOR', 'ROLE', 'TERM']);
    expect(lines.slice(coordinators + 1, coordinators + 4).map(cells)).to.deep.equal([
      ['10.0.0.1:7080', 'leader', '57'], ['10.0.0.2:7080', 'standby', '60'], ['10.0.0.3:7080', 'standby', '61'],
    ]);
    const members = lines.findIndex((l) => l.startsWith('ETCD MEMBER'));
    expect(cells(lines[members])).to.deep.equal(['ETCD MEMBER', 'ENDPOINT', 'HEALTH', 'LEADER', 'RAFT INDEX', 'ERROR']);
    expect(lines.slice(members + 1).map(cells)).to.deep.equal([
      ['etcd-1', 'https://10.0.0.1:2379', 'healthy', 'leader', '1234', '-'],
      ['etcd-2', 'https://10.0.0.2:2379', 'healthy', '-', '1234', '-'],
      ['etcd-3', 'https://10.0.0.3:2379', 'UNHEALTHY', '-', '0', 'context deadline exceeded'],
    ]);
    expect(lines.some((l) => l.startsWith('!!!'))).to.equal(false);
  });

  it('says loudly, in the summary at the top, why the store refuses writes; and when no leader is elected', () => {
    const cluster = haCluster({ leader: '', term: 0, coordinators: [], storeError: 'etcd has no quorum: 2 of 3 members unreachable\nlast error: deadline exceeded' });
    const status = { ...cannedData().status, cluster };
    const lines = renderStatus(status, '10.0.0.2:7080', { nowMs: NOW, color: false });
    const loud = lines.findIndex((l) => l.startsWith('!!!'));
    expect(loud).to.be.greaterThan(lines.findIndex((l) => l.startsWith('policy')));
    expect(loud).to.be.lessThan(lines.findIndex((l) => l.startsWith('VO')));
    expect(lines.slice(loud, loud + 3)).to.deep.equal([
      '!!! STORE REFUSES WRITES (etcd): etcd has no quorum: 2 of 3 members unreachable',
      '!!! last error: deadline exceeded',
      '!!! deployments, removals, agent registrations and policy changes fail until it takes writes again; see Coordinators below',
    ]);
    expect(lines).to.include('store        etcd, 2 of 3 members healthy; REFUSES WRITES (see above)');
    expect(lines).to.include("leader       none elected now: changes fail until one is (check the etcd members' health below)");
    expect(lines.some((l) => l.startsWith('COORDINATOR'))).to.equal(false);
    // Red on a terminal, like a rejected policy file.
    expect(renderStoreError(cluster, { color: true })[0]).to.equal('\u001b[1;31m!!! STORE REFUSES WRITES (etcd): etcd has no quorum: 2 of 3 members unreachable\u001b[0m');
    expect(renderStoreError(haCluster(), { color: true })).to.deep.equal([]);
  });

  it('keeps a coordinator on SQLite short, and adds the section after "no VOs in the policy" too', () => {
    const cluster: CoordinatorCluster = { store: 'sqlite', role: 'single', self: '127.0.0.1:7080', leader: '', term: 0, coordinators: [], storeMembers: [], storeError: '' };
    expect(renderCluster(cluster)).to.deep.equal(['Coordinators', 'store        sqlite (one coordinator, no HA)', 'answered by  127.0.0.1:7080 (single)']);
    const lines = renderStatus({ ...cannedData().status, vos: [], cluster }, '127.0.0.1:7080', { nowMs: NOW, color: false });
    expect(lines.slice(lines.indexOf('no VOs in the policy'))).to.deep.equal(['no VOs in the policy', '', ...renderCluster(cluster)]);
  });

  it('status --json carries the cluster as the StatusResponse JSON does', () => {
    const json = StatusResponse.toJSON({ ...cannedData().status, cluster: haCluster() }) as { cluster?: Record<string, unknown> };
    expect(json.cluster).to.deep.include({ store: 'etcd', role: 'standby', self: '10.0.0.2:7080', leader: '10.0.0.1:7080', term: 57 });
    expect(json.cluster?.['storeMembers']).to.have.length(3);
    expect((StatusResponse.toJSON(cannedData().status) as { cluster?: unknown }).cluster).to.equal(undefined);
  });
});
