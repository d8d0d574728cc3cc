// Test doubles for the deployer's collaborators. They are fakes, named so,
// and used only in unit tests; acceptance tests use the real parts.
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DhcpBackend, DhcpReservation, Lease } from '../../agent/dhcp/dhcp-backend.js';
import type { HostFacts, HostFactsSource } from '../../agent/host/host-facts.js';
import type { DomainConfig, DomainInfo, HypervisorDriver } from '../../agent/hypervisor/hypervisor-driver.js';
import type { FileDigest, GuestIdentity, RestoreBreakdown, SavedState, SnapshotSupport, TemplateFiles } from '../../agent/hypervisor/snapshot.js';
import type { ImageStore, PreparedBoot } from '../../agent/deploy/image-store.js';
import type { VmSpec } from '../../agent/deploy/vm-spec.js';
import type { TemplateShape } from '../../agent/templates/template-key.js';
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

/**
 * Snapshot fake: saveTemplate writes a small state file and a memory file
 * (after an abortable delay) and returns their real sizes and sha256;
 * restore records its arguments and fails when told to. Every call is
 * recorded.
 */
export class FakeSnapshots implements SnapshotSupport {
  versionText = 'QEMU emulator version 7.2.0 (fake); machine pc; accel tcg';
  /** How long saveTemplate takes; an abort ends it early with the signal's reason. */
  saveDelayMs = 0;
  /** Sizes of the files saveTemplate writes. */
  stateBytes = 4096;
  memoryBytes = 64 * 1024;
  failSave: Error | undefined;
  failRestore: Error | undefined;
  failVersion: Error | undefined;
  /** What a successful restore reports. */
  breakdown: RestoreBreakdown = { launchMs: 11.4, loadMs: 22.6, identityMs: 3 };
  readonly saves: Array<{ config: DomainConfig; files: TemplateFiles; signal: AbortSignal | undefined; atMs: number }> = [];
  readonly restores: Array<{ config: DomainConfig; state: SavedState; identity: GuestIdentity }> = [];
  /** Called when a restore succeeds (FakeSnapshotDriver makes the domain run and the guest lease). */
  onRestore: (config: DomainConfig) => void = () => undefined;

  async version(): Promise<string> {
    if (this.failVersion) throw this.failVersion;
    return this.versionText;
  }
  async saveTemplate(config: DomainConfig, files: TemplateFiles, signal?: AbortSignal): Promise<{ state: FileDigest; memory: FileDigest }> {
    this.saves.push({ config, files, signal, atMs: systemClock.monotonicMs() });
    await systemClock.sleep(this.saveDelayMs, signal);
    if (this.failSave) throw this.failSave;
    const write = async (file: string, bytes: number, fill: string): Promise<FileDigest> => {
      const data = Buffer.alloc(bytes, fill);
      await writeFile(file, data);
      return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    };
    return { state: await write(files.state, this.stateBytes, `state:${config.name}:`), memory: await write(files.memory, this.memoryBytes, `ram:${config.name}:`) };
  }
  async restore(config: DomainConfig, state: SavedState, identity: GuestIdentity): Promise<RestoreBreakdown> {
    this.restores.push({ config, state, identity });
    if (this.failRestore) throw this.failRestore;
    this.onRestore(config);
    return this.breakdown;
  }
}

/** FakeDriver with snapshot support: a successful restore runs the domain like start() does (and calls onStart). */
export class FakeSnapshotDriver extends FakeDriver {
  constructor(readonly snapshots: FakeSnapshots = new FakeSnapshots()) {
    super();
    snapshots.onRestore = (config) => {
      this.calls.push(`restore ${config.name}`);
      this.domains.set(config.name, { name: config.name, state: 'running' });
      this.onStart(config);
    };
  }
}

/** vmSpec() with a kernel, an initrd and a command line: a VM that can have a snapshot template. */
export function templatableSpec(name: string, index: number, overrides: Partial<VmSpec> = {}): VmSpec {
  return vmSpec(name, index, {
    kernel: { url: 'http://127.0.0.1:1/bio.vmlinuz', sha256: 'b'.repeat(64) },
    initrd: { url: 'http://127.0.0.1:1/bio.initrd', sha256: 'c'.repeat(64) },
    cmdline: 'console=ttyS0 quiet',
    ...overrides,
  });
}

/** A template shape (what templatableSpec() has, under FakeSnapshots' version). */
export function templateShape(overrides: Partial<TemplateShape> = {}): TemplateShape {
  return {
    hypervisor: 'qemu',
    hypervisorVersion: new FakeSnapshots().versionText,
    diskSha256: 'a'.repeat(64),
    kernelSha256: 'b'.repeat(64),
    initrdSha256: 'c'.repeat(64),
    cmdline: 'console=ttyS0 quiet vonode.template=1 init_on_free=1',
    memoryMb: 256,
    vcpus: 1,
    vo: 'bio',
    ...overrides,
  };
}
