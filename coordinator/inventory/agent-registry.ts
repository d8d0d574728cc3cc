import type { Clock } from '../../shared/clock.js';
import type { HostFactsResponse } from '../../shared/gen/vonode/v1/agent.js';
import type { Domain } from '../../shared/gen/vonode/v1/common.js';
import type { Logger } from '../../shared/logger.js';
import { validateHostname } from '../../shared/validation.js';
import { InvalidArgumentError } from '../../shared/errors.js';

/** What the coordinator knows of one physical host's agent. */
export interface HostView {
  name: string;
  address: string;
  state: 'up' | 'down';
  facts: HostFactsResponse | undefined;
  lastSeenMonoMs: number;
  lastSeenUnixMs: number;
}

/** Callbacks the registry fires; the coordinator wires them to events and reconciliation. */
export interface RegistryHooks {
  /** A host registered (first time or again); `domains` is what it runs now. */
  onRegistered?(host: HostView, domains: readonly Domain[]): void;
  /** A host changed between up and down. */
  onStateChange?(host: HostView): void;
}

const ADDRESS = /^([A-Za-z0-9.-]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}|unix:\/[A-Za-z0-9._/+@-]+)$/;

/**
 * The inventory of agents: registration, heartbeats and down detection. A
 * host is down when it has been silent for `downAfterMs` (checked by
 * `sweep`, which the coordinator runs on a short timer so a dead agent is
 * noticed within downAfterMs + one sweep period).
 */
export class AgentRegistry {
  private readonly hosts = new Map<string, HostView>();
  /** `list()`'s order, kept until a new host registers (names never change). */
  private sorted: HostView[] | undefined;

  constructor(
    private readonly options: { downAfterMs: number; clock: Clock; logger: Logger; hooks?: RegistryHooks },
  ) {}

  /** Records a registration. Throws InvalidArgumentError for a bad name or address. */
  register(name: string, address: string, facts: HostFactsResponse | undefined, domains: readonly Domain[]): HostView {
    validateHostname('host_name', name);
    if (!ADDRESS.test(address)) throw new InvalidArgumentError('address', `"${address}" is not host:port or unix:/path`);
    const { clock } = this.options;
    const prev = this.hosts.get(name);
    const host: HostView = { name, address, state: 'up', facts, lastSeenMonoMs: clock.monotonicMs(), lastSeenUnixMs: clock.nowMs() };
    if (!prev) this.sorted = undefined;
    this.hosts.set(name, host);
    this.options.logger.info({ host: name, address, again: prev !== undefined }, 'agent registered');
    this.options.hooks?.onRegistered?.(host, domains);
    if (prev?.state === 'down' || !prev) this.options.hooks?.onStateChange?.(host);
    return host;
  }

  /**
   * Records a heartbeat: 'unknown' if the host must register first,
   * 'changed' if it came back up or its image cache changed (placement may
   * decide differently now), else 'same'.
   */
  heartbeat(name: string, facts: HostFactsResponse | undefined): 'unknown' | 'same' | 'changed' {
    const host = this.hosts.get(name);
    if (!host) return 'unknown';
    const cacheChanged = facts !== undefined && facts.cachedImages.join() !== (host.facts?.cachedImages ?? []).join();
    const { clock } = this.options;
    host.lastSeenMonoMs = clock.monotonicMs();
    host.lastSeenUnixMs = clock.nowMs();
    if (facts) host.facts = facts;
    if (host.state === 'down') {
      host.state = 'up';
      this.options.logger.info({ host: name }, 'agent is back');
      this.options.hooks?.onStateChange?.(host);
      return 'changed';
    }
    return cacheChanged ? 'changed' : 'same';
  }

  /** Marks silent hosts down; returns the ones that changed. */
  sweep(): HostView[] {
    const now = this.options.clock.monotonicMs();
    const changed: HostView[] = [];
    for (const host of this.hosts.values()) {
      if (host.state === 'up' && now - host.lastSeenMonoMs > this.options.downAfterMs) {
        host.state = 'down';
        changed.push(host);
        this.options.logger.warn({ host: host.name, silentMs: Math.round(now - host.lastSeenMonoMs) }, 'agent is down: no heartbeat');
        this.options.hooks?.onStateChange?.(host);
      }
    }
    return changed;
  }

  /** One host, or undefined. */
  get(name: string): HostView | undefined {
    return this.hosts.get(name);
  }

  /** Every known host, unsorted (hot paths). */
  values(): IterableIterator<HostView> {
    return this.hosts.values();
  }

  /** Every known host, by name (a new array; the order is computed once per new host). */
  list(): HostView[] {
    this.sorted ??= [...this.hosts.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // A re-registration replaces a host's view: read the current one by name.
    return this.sorted.map((h) => this.hosts.get(h.name)!);
  }

  /** How many hosts are up and down (metrics and status, without building lists). */
  counts(): { up: number; down: number } {
    let up = 0;
    for (const h of this.hosts.values()) if (h.state === 'up') up++;
    return { up, down: this.hosts.size - up };
  }

  /** Sets a host's view as the leader published it (a standby's copy; no hooks, no down detection here). */
  replicate(name: string, view: HostView | undefined): void {
    if (view) {
      if (!this.hosts.has(name)) this.sorted = undefined;
      this.hosts.set(name, view);
    } else if (this.hosts.delete(name)) {
      this.sorted = undefined;
    }
  }

  /** Hosts currently up. */
  up(): HostView[] {
    return this.list().filter((h) => h.state === 'up');
  }
}
