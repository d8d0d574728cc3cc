// Test doubles for the deployer's collaborators. They are fakes, named so,
// and used only in unit tests; acceptance tests use the real parts.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DhcpBackend, DhcpReservation, Lease } from '../../agent/dhcp/dhcp-backend.js';
import type { HostFacts, HostFactsSource } from '../../agent/host/host-facts.js';
import type { DomainConfig, DomainInfo, HypervisorDriver } from '../../agent/hypervisor/hypervisor-driver.js';
import type { ImageStore, PreparedBoot } from '../../agent/deploy/image-store.js';
import type { VmSpec } from '../../agent/deploy/vm-spec.js';
import { systemClock } from '../../shared/clock.js';

/** Hypervisor fake: domains in a map; `onStart` lets a test make a guest "lease" or fail. */
export class FakeDriver implements HypervisorDriver {
  readonly kind = 'qemu' as const;
  readonly domains = new Map<string, DomainInfo>();
  readonly calls: string[] = [];
  failStart: Error | undefined;
  startDelayMs = 0;
  onStart: (config: DomainConfig) => void = () => undefined;

  async start(config: DomainConfig): Promise<void> {
    this.calls.push(`start ${config.name}`);
    await systemClock.sleep(this.startDelayMs);
    if (this.failStart) throw this.failStart;
    this.domains.set(config.name, { name: config.name, state: 'running' });
    this.onStart(config);
  }
  async shutdown(name: string): Promise<boolean> {
    this.calls.push(`shutdown ${name}`);
    this.domains.delete(name);
    return true;
  }
  async destroy(name: string): Promise<void> {
    this.calls.push(`destroy ${name}`);
    this.domains.delete(name);
  }
  async list(): Promise<DomainInfo[]> {
    return [...this.domains.values()];
  }
  async close(): Promise<void> {}
}

/** DHCP fake: reservations in a map; leases granted by `grant(mac)`. */
export class FakeDhcp implements DhcpBackend {
  readonly kind = 'dnsmasq' as const;
  readonly reservations = new Map<string, DhcpReservation>();
  private readonly waiting = new Map<string, (l: Lease) => void>();
  async open(): Promise<void> {}
  async add(r: DhcpReservation): Promise<void> {
    this.reservations.set(r.hostname, r);
  }
  async remove(hostname: string): Promise<void> {
    this.reservations.delete(hostname);
  }
  async list(): Promise<DhcpReservation[]> {
    return [...this.reservations.values()];
  }
  waitForLease(mac: string, timeoutMs: number): Promise<Lease> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`fake: no lease for ${mac}`)), timeoutMs);
      this.waiting.set(mac, (l) => (clearTimeout(t), resolve(l)));
    });
  }
  grant(mac: string, ip: string): void {
    this.waiting.get(mac)?.({ mac, ip });
  }
  async close(): Promise<void> {}
}

/** Image fake: counts pins per sha; no files. */
export class FakeImages implements ImageStore {
  readonly pins = new Map<string, number>();
  readonly overlays = new Set<string>();
  prepareDelayMs = 0;
  async prepare(spec: VmSpec, overlayPath: string): Promise<PreparedBoot> {
    await systemClock.sleep(this.prepareDelayMs);
    this.pin([spec.disk.sha256]);
    this.overlays.add(overlayPath);
    return { cacheHit: true, bytesTransferred: 0, diskFormat: 'qcow2' };
  }
  async release(shas: readonly string[], overlayPath: string): Promise<void> {
    this.overlays.delete(overlayPath);
    for (const s of shas) this.pins.set(s, (this.pins.get(s) ?? 0) - 1);
  }
  pin(shas: readonly string[]): void {
    for (const s of shas) this.pins.set(s, (this.pins.get(s) ?? 0) + 1);
  }
}

/** Host facts fake with settable memory. */
export class FakeFacts implements HostFactsSource {
  facts: HostFacts = {
    hostname: 'phys-1', cpus: 2, memoryTotalBytes: 8 * 1024 ** 3, memoryAvailableBytes: 6 * 1024 ** 3, diskTotalBytes: 1e11, diskFreeBytes: 5e10,
  };
  async read(): Promise<HostFacts> {
    return this.facts;
  }
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'vonode-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A valid VM spec for hostname `name` (index picks IP and MAC). */
export function vmSpec(name: string, index: number, overrides: Partial<VmSpec> = {}): VmSpec {
  const hex = index.toString(16).padStart(2, '0');
  return {
    hostname: name,
    ip: `10.77.0.${10 + index}`,
    mac: `52:54:00:77:00:${hex}`,
    vo: 'bio',
    disk: { url: 'http://127.0.0.1:1/bio.qcow2', sha256: 'a'.repeat(64) },
    vcpus: 1,
    memoryMb: 256,
    ...overrides,
  };
}
