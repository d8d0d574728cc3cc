import type { Namespace } from 'etcd3';
import { errorMessage } from '../../shared/errors.js';
import type { CoordinatorCluster, StoreMember } from '../../shared/gen/vonode/v1/coordinator.js';
import { connectEtcd, type EtcdConnection, type EtcdStoreConfig } from './etcd-connection.js';
import { campaigners } from './leader-election.js';

/** Longest a status waits for one etcd member. */
const PROBE_MS = 1500;

/** This coordinator's side of the cluster view. */
export interface LocalRole {
  role(): 'leader' | 'standby';
  /** Why this coordinator cannot take writes now ('' if it can, or is a standby with a leader elsewhere). */
  problem(): string;
}

/**
 * `vonode status`'s view of an HA site: every coordinator campaigning (from
 * the election keys), and each etcd member's own answer (one client per
 * member, so a dead member is reported as such instead of being routed
 * around), with the reason writes stopped when they did.
 */
export class ClusterStatus {
  private readonly probes: EtcdConnection[];

  constructor(
    private readonly config: EtcdStoreConfig,
    private readonly ns: Namespace,
    private readonly self: string,
    private readonly local: LocalRole,
  ) {
    this.probes = config.endpoints.map((e) => connectEtcd(config, [e]));
  }

  async view(): Promise<CoordinatorCluster> {
    const [members, coordinators] = await Promise.all([
      Promise.all(this.config.endpoints.map((endpoint, i) => this.probe(endpoint, this.probes[i]!))),
      bounded(campaigners(this.ns)).catch(() => undefined),
    ]);
    const leader = coordinators?.[0];
    const healthy = members.filter((m) => m.healthy).length;
    const quorum = Math.floor(members.length / 2) + 1;
    const storeError = healthy < quorum
      ? `etcd has no quorum: ${healthy} of ${members.length} members answer (${quorum} needed); coordinators stopped writing until a majority is back`
      : this.local.problem();
    return {
      store: 'etcd', role: this.local.role(), self: this.self, leader: leader?.address ?? '', term: leader?.term ?? 0,
      coordinators: (coordinators ?? []).map((c, i) => ({ address: c.address, role: i === 0 ? 'leader' : 'standby', term: c.term })),
      storeMembers: members, storeError,
    };
  }

  close(): void {
    for (const p of this.probes) p.close();
  }

  private async probe(endpoint: string, conn: EtcdConnection): Promise<StoreMember> {
    try {
      const s = await bounded(conn.client.maintenance.status());
      const id = s.header.member_id;
      return {
        name: id, endpoint, healthy: s.errors.length === 0 && s.leader !== '0' && s.leader !== '', isLeader: s.leader === id,
        error: s.errors.join('; ') || (s.leader === '0' || s.leader === '' ? 'no raft leader' : ''), raftIndex: Number(s.raftIndex),
      };
    } catch (e) {
      return { name: '', endpoint, healthy: false, isLeader: false, error: errorMessage(e), raftIndex: 0 };
    }
  }
}

function bounded<T>(p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_MS} ms`)), PROBE_MS)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
