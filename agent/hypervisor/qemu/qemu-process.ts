import { readFile } from 'node:fs/promises';

/** Reads a QEMU pid file; undefined if absent or garbled. */
export async function readPidFile(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True if pid is alive and is the QEMU that owns this QMP socket. Checking the
 * command line keeps a recycled pid from being mistaken for (and killed as)
 * our domain.
 */
export async function isOurQemu(pid: number, qmpSocket: string): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie (state Z) has exited already; only its parent has not reaped it.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmdline.split('\0').some((a) => a.includes(qmpSocket));
  } catch {
    return false;
  }
}
