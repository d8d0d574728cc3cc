import { ResourceExhaustedError } from '../../shared/errors.js';
import type { HostFacts } from '../host/host-facts.js';

const MiB = 1024 ** 2;

/**
 * Refuses a VM that would not fit: it must fit in the memory available now
 * AND in the total minus what running domains were promised (QEMU allocates
 * guest memory lazily, so "available" alone overcommits). Throws ResourceExhaustedError.
 */
export function admitMemory(facts: HostFacts, committedBytes: number, reserveBytes: number, hostname: string, memoryMb: number): void {
  const need = memoryMb * MiB;
  const availableNow = facts.memoryAvailableBytes - reserveBytes;
  const uncommitted = facts.memoryTotalBytes - reserveBytes - committedBytes;
  const room = Math.min(availableNow, uncommitted);
  if (need > room) {
    throw new ResourceExhaustedError(
      `${hostname} needs ${memoryMb} MiB but this host has ${Math.max(0, Math.floor(room / MiB))} MiB to give ` +
        `(available ${Math.floor(facts.memoryAvailableBytes / MiB)} MiB, committed to VMs ${Math.floor(committedBytes / MiB)} MiB, ` +
        `reserve ${Math.floor(reserveBytes / MiB)} MiB): place it on another host or lower its memory`,
    );
  }
}
