import { statfs } from 'node:fs/promises';
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

/**
 * Host facts: the CPU count from systeminformation once (it runs lscpu and
 * dmidecode, ~0.2 s of CPU: read on every heartbeat it cost agents more than
 * their image transfers), memory from systeminformation (/proc/meminfo) and
 * the state dir's filesystem from statfs(2) on every read (no process).
 */
export class SystemHostFacts implements HostFactsSource {
  private cores: Promise<number> | undefined;

  constructor(private readonly hostname = os.hostname()) {}

  async read(stateDir: string): Promise<HostFacts> {
    this.cores ??= si.cpu().then((c) => c.cores, () => os.availableParallelism());
    const [cpus, mem, fs] = await Promise.all([this.cores, si.mem(), statfs(stateDir).catch(() => undefined)]);
    return {
      hostname: this.hostname,
      cpus,
      memoryTotalBytes: mem.total,
      memoryAvailableBytes: mem.available,
      diskTotalBytes: fs ? fs.blocks * fs.bsize : 0,
      diskFreeBytes: fs ? fs.bavail * fs.bsize : 0,
    };
  }
}
