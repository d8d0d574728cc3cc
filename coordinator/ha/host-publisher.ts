import type { Namespace } from 'etcd3';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { HostView } from '../inventory/agent-registry.js';
import type { EtcdFence } from '../store/etcd/etcd-fence.js';

/** Key of a host's view, under the store prefix. */
export const HOSTS_PREFIX = 'hosts/';
/** Hosts per etcd txn (below etcd's 128-op limit). */
const HOSTS_PER_TXN = 100;
/** Changes of one moment go out together. */
const FLUSH_DELAY_MS = 200;
/** Every host is published again this often, so a standby's view of memory and images stays recent. */
export const REPUBLISH_MS = 10_000;

/** A host as published: its view without the leader's process-local clock. */
export type PublishedHost = Omit<HostView, 'lastSeenMonoMs'>;

/**
 * The leader's agent registry, published under hosts/ so that standbys
 * show the site's hosts too (agents register with the leader only). Each
 * registration and up/down change goes out within 200 ms, every host again
 * every 10 s (facts drift: memory, images); fenced like every leader write,
 * and skipped while the lease is unconfirmed. Not part of the state a
 * failover needs: a new leader learns hosts from their registrations.
 */
export class HostPublisher {
  private readonly dirty = new Map<string, HostView>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly ns: Namespace,
    private readonly fence: EtcdFence,
    private readonly logger: Logger,
  ) {}

  /** A host registered or changed state. */
  changed(host: HostView): void {
    this.dirty.set(host.name, host);
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_DELAY_MS);
  }

  /** Publishes every host again. */
  republish(hosts: Iterable<HostView>): void {
    for (const h of hosts) this.changed(h);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.fence.standing?.() !== 'leading') return;
    const hosts = [...this.dirty.values()];
    this.dirty.clear();
    for (let i = 0; i < hosts.length; i += HOSTS_PER_TXN) {
      const puts = hosts.slice(i, i + HOSTS_PER_TXN).map((h) => {
        const published: PublishedHost = { name: h.name, address: h.address, state: h.state, facts: h.facts, lastSeenUnixMs: h.lastSeenUnixMs };
        return this.ns.put(`${HOSTS_PREFIX}${h.name}`).value(JSON.stringify(published));
      });
      try {
        await this.ns.if(this.fence.key, 'Create', '==', this.fence.term).then(...puts).commit();
      } catch (e) {
        this.logger.warn({ err: errorMessage(e), hosts: puts.length }, 'could not publish hosts for the standbys; the next change or refresh does');
      }
    }
  }
}
