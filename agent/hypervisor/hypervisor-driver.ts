import type { DomainConfig } from './domain-config.js';
import type { SnapshotSupport } from './snapshot.js';

export type { DomainConfig } from './domain-config.js';

/** Lifecycle state of a domain as the hypervisor reports it. */
export type DomainRunState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'defined';

/** A domain vonode manages, as listed by a driver. */
export interface DomainInfo {
  name: string;
  state: DomainRunState;
}

/**
 * One hypervisor behind one interface: qemu (QMP), libvirt (virsh), xen (xl),
 * or the simulated driver. Drivers only ever touch domains whose name starts
 * with DOMAIN_PREFIX, so an agent never disturbs VMs it did not create.
 */
export interface HypervisorDriver {
  readonly kind: 'qemu' | 'libvirt' | 'xen' | 'simulated';
  /** Snapshot templates (save once, restore many); absent where the driver has none: every deployment boots cold. */
  readonly snapshots?: SnapshotSupport;
  /** Creates and starts the domain; resolves once the hypervisor reports it running. Throws if it cannot. */
  start(config: DomainConfig, signal?: AbortSignal): Promise<void>;
  /** Asks the guest to power off; resolves true if it stopped within timeoutMs, false otherwise (still running). */
  shutdown(name: string, timeoutMs: number): Promise<boolean>;
  /** Stops the domain at once and forgets it. Idempotent: a missing domain is not an error. */
  destroy(name: string): Promise<void>;
  /** Lists the vonode-managed domains the hypervisor knows. */
  list(): Promise<DomainInfo[]>;
  /** Releases connections and helper processes (domains keep running). */
  close(): Promise<void>;
}

/** Prefix of every domain name vonode creates. */
export const DOMAIN_PREFIX = 'vn-';

/** Domain name for a pool hostname: its first label, prefixed (libvirt and xl accept it as is). */
export function domainNameFor(hostname: string): string {
  return DOMAIN_PREFIX + hostname;
}

/** The pool hostname a vonode domain name was derived from. */
export function hostnameOfDomain(name: string): string | undefined {
  return name.startsWith(DOMAIN_PREFIX) ? name.slice(DOMAIN_PREFIX.length) : undefined;
}
