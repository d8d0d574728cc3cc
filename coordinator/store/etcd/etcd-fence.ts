/**
 * What makes a coordinator's writes to etcd conditional on its leadership:
 * every commit compares the create revision of its election key (`key`,
 * created with its lease) with `term`. When the lease expires (the process
 * was stopped, partitioned or killed) etcd deletes the key, so a deposed
 * leader's late commit fails the compare and changes nothing.
 */
export interface EtcdFence {
  /** Its election key (relative to the store prefix). */
  key: string;
  /** Create revision of that key: the leader's term. */
  term: number;
  /** Advertised address of the leader, written with every commit (meta/writer). */
  address: string;
  /** Throws if this process must not write now (deposed, or its lease unconfirmed). */
  assertWritable(): void;
  /** 'lost' for good (deposed), or 'unconfirmed' for now (its lease may have lapsed: wait and ask again). */
  standing?(): 'leading' | 'unconfirmed' | 'lost';
}
