/**
 * One deployment or removal per physical host at a time: the paper found
 * that parallel image copies to one host slowed every copy. A deployment
 * holds its host from CR until the domain is running (VMB end); the guest's
 * own boot (VMR) and the batch-system steps then overlap the next
 * deployment's image work, so three VMs do not cost three guest boots.
 */
export class HostSlots {
  private readonly holders = new Map<string, string>();
  private readonly waiters = new Map<string, Array<{ opId: string; grant(): void }>>();

  /** Takes the host's slot if it is free and nobody waits for it; returns whether it did. */
  tryAcquire(host: string, opId: string): boolean {
    if (this.holders.has(host) || (this.waiters.get(host)?.length ?? 0) > 0) return false;
    this.holders.set(host, opId);
    return true;
  }

  /** Waits for the host's slot (FIFO among waiters, ahead of new deployments). */
  acquire(host: string, opId: string): Promise<void> {
    if (this.tryAcquire(host, opId)) return Promise.resolve();
    return new Promise((grant) => {
      const list = this.waiters.get(host) ?? [];
      list.push({ opId, grant });
      this.waiters.set(host, list);
    });
  }

  /** Releases the slot if `opId` holds it (idempotent), handing it to the next waiter. */
  release(host: string, opId: string): void {
    if (this.holders.get(host) !== opId) return;
    this.holders.delete(host);
    const next = this.waiters.get(host)?.shift();
    if (next) {
      this.holders.set(host, next.opId);
      next.grant();
    }
  }

  /** True if an operation holds or waits for the host. */
  busy(host: string): boolean {
    return this.holders.has(host) || (this.waiters.get(host)?.length ?? 0) > 0;
  }

  /** The operation holding the host, if any. */
  holder(host: string): string | undefined {
    return this.holders.get(host);
  }
}
