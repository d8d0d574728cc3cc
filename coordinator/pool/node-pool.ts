import { ResourceExhaustedError } from '../../shared/errors.js';
import type { PoolEntry } from '../config.js';
import type { NodeRecord } from '../store/records.js';
import type { StateStore } from '../store/state-store.js';

/**
 * The site's pre-set (hostname, IP, MAC) triples. A triple is leased by
 * inserting its node row, always whole (hostname, IP and MAC in one row with
 * UNIQUE constraints: the batch system and DNS cache name↔IP, and SGE
 * refuses a known IP under a new name), and freed by deleting it. Leasing
 * happens inside the caller's transaction, so a lease exists on disk exactly
 * when the operation that needs it does, across crashes too.
 */
export class NodePool {
  constructor(
    private readonly entries: readonly PoolEntry[],
    private readonly store: StateStore,
  ) {}

  /** Number of triples in the pool. */
  get total(): number {
    return this.entries.length;
  }

  /** Triples not leased now. */
  freeEntries(): PoolEntry[] {
    const leased = new Set(this.store.nodes().map((n) => n.hostname));
    return this.entries.filter((e) => !leased.has(e.hostname));
  }

  /** The pool entry for a hostname, if it is one of ours. */
  entry(hostname: string): PoolEntry | undefined {
    return this.entries.find((e) => e.hostname === hostname);
  }

  /**
   * Leases the first free triple to `vo` for operation `operationId`. Call
   * inside a store transaction. Throws ResourceExhaustedError when none is free.
   */
  lease(vo: string, operationId: string, nowMs: number): NodeRecord {
    return this.leaseMany(vo, [operationId], nowMs)[0]!;
  }

  /** Leases one triple per operation id (one read of the leases for all). Call inside a store transaction. Throws ResourceExhaustedError if too few are free. */
  leaseMany(vo: string, operationIds: readonly string[], nowMs: number): NodeRecord[] {
    const free = this.freeEntries();
    if (free.length < operationIds.length) {
      throw new ResourceExhaustedError(`the node pool is exhausted (${free.length} of ${this.total} triples free, ${operationIds.length} asked): add hostname/IP/MAC triples to the coordinator's pool or remove nodes`);
    }
    return operationIds.map((operationId, i) => {
      const node: NodeRecord = { ...free[i]!, vo, host: '', state: 'deploying', operationId, sinceMs: nowMs, error: '' };
      this.store.insertNode(node);
      return node;
    });
  }

  /** Frees a triple (idempotent). */
  release(hostname: string): void {
    this.store.deleteNode(hostname);
  }
}
