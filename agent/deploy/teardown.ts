import { rm } from 'node:fs/promises';
import type { DhcpBackend } from '../dhcp/dhcp-backend.js';
import type { HypervisorDriver } from '../hypervisor/hypervisor-driver.js';
import type { DomainRecord, DomainStore } from '../state/domain-store.js';
import type { ImageStore } from './image-store.js';
import type { PhaseRecorder } from './phase-recorder.js';

/** The parts a teardown touches. */
export interface TeardownDeps {
  driver: HypervisorDriver;
  dhcp: DhcpBackend;
  images: ImageStore;
  store: DomainStore;
}

/** How to tear a domain down. */
export interface TeardownOptions {
  /** Whether this domain holds pins on its images (false if PT never finished). */
  releaseImages: boolean;
  /** Ask the guest to power off first and wait this long; 0 destroys at once. */
  shutdownTimeoutMs?: number;
  /** Report VMD, DHR, DKR phases here (removal); absent for silent cleanup. */
  phases?: PhaseRecorder;
}

/** What the teardown found and did. */
export interface TeardownOutcome {
  wasRunning: boolean;
  destroyed: boolean;
}

/**
 * Undoes a domain in reverse order of its deployment: guest, DHCP entry,
 * instance disk and image pins, then the record (last, so a crash half-way
 * leaves a record that restart recovery finishes). Every step is idempotent.
 */
export async function teardownDomain(deps: TeardownDeps, record: DomainRecord, options: TeardownOptions): Promise<TeardownOutcome> {
  const { driver, dhcp, images, store } = deps;
  const phases = options.phases;
  phases?.start('VMD');
  const listed = (await driver.list()).find((d) => d.name === record.domainName);
  const wasRunning = listed?.state === 'running' || listed?.state === 'paused';
  let destroyed = false;
  if (wasRunning && options.shutdownTimeoutMs) {
    destroyed = !(await driver.shutdown(record.domainName, options.shutdownTimeoutMs));
  } else {
    destroyed = wasRunning;
  }
  await driver.destroy(record.domainName);
  await rm(record.runDir, { recursive: true, force: true });
  phases?.end('VMD', { was_running: String(wasRunning), destroyed: String(destroyed) });

  phases?.start('DHR');
  await dhcp.remove(record.hostname);
  phases?.end('DHR');

  phases?.start('DKR');
  if (options.releaseImages) await images.release(record.imageShas, record.overlayPath);
  else await images.release([], record.overlayPath);
  await store.delete(record.hostname);
  phases?.end('DKR');
  return { wasRunning, destroyed };
}
