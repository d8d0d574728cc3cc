import os from 'node:os';
import si from 'systeminformation';

/** Resources of this physical host. */
export interface HostFacts {
  hostname: string;
  cpus: number;
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  diskTotalBytes: number;
  diskFreeBytes: number;
}

/** Reads host resources; an interface so admission logic is testable. */
export interface HostFactsSource {
  /** Current facts; `stateDir` selects the filesystem whose space counts. */
  read(stateDir: string): Promise<HostFacts>;
}

/** Host facts from systeminformation (cpus, memory, the state dir's filesystem). */
export class SystemHostFacts implements HostFactsSource {
  constructor(private readonly hostname = os.hostname()) {}

  async read(stateDir: string): Promise<HostFacts> {
    const [cpu, mem, disks] = await Promise.all([si.cpu(), si.mem(), si.fsSize()]);
    // The filesystem holding stateDir is the longest mount point that prefixes it.
    const disk = disks
      .filter((d) => stateDir === d.mount || stateDir.startsWith(d.mount.endsWith('/') ? d.mount : d.mount + '/'))
      .sort((a, b) => b.mount.length - a.mount.length)[0];
    return {
      hostname: this.hostname,
      cpus: cpu.cores,
      memoryTotalBytes: mem.total,
      memoryAvailableBytes: mem.available,
      diskTotalBytes: disk?.size ?? 0,
      diskFreeBytes: disk?.available ?? 0,
    };
  }
}
