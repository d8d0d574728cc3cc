import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** Which gwd process: its pid and its start time (clock ticks since boot, /proc/PID/stat field 22). */
export interface GwdIdentity {
  pid: number;
  startTicks: string;
}

/** The gwd that started this MAD (its parent), or undefined where /proc cannot say. */
export function parentGwd(pid = process.ppid, readStat = (p: number) => readFileSync(`/proc/${p}/stat`, 'utf8')): GwdIdentity | undefined {
  try {
    // comm (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const stat = readStat(pid);
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = fields[19];
    return startTicks ? { pid, startTicks } : undefined;
  } catch {
    return undefined;
  }
}

interface Saved {
  gwd: GwdIdentity;
  ids: Record<string, string>;
}

/**
 * gwd's host ids, kept across restarts of this MAD by the same gwd: gwd
 * reloads a MAD that died (gw_im_mad_reload) and keeps its host pool, so the
 * ids it gave are still valid; they are used again only if the file names
 * the very gwd process that runs this MAD now (pid and start time: a gwd
 * restarted, even with the same pid, has a new pool and new ids). Writes
 * are atomic (temporary file, then rename).
 */
export class GwdIdMemory {
  constructor(
    private readonly file: string,
    private readonly gwd: GwdIdentity | undefined,
  ) {}

  /** The ids this gwd gave, if the file is from this gwd; otherwise none. */
  load(): Map<string, string> {
    if (!this.gwd) return new Map();
    try {
      const saved = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<Saved>;
      if (saved.gwd?.pid !== this.gwd.pid || saved.gwd.startTicks !== this.gwd.startTicks || typeof saved.ids !== 'object' || !saved.ids) return new Map();
      return new Map(Object.entries(saved.ids).filter(([h, id]) => typeof h === 'string' && typeof id === 'string' && /^\d+$/.test(id)));
    } catch {
      return new Map();
    }
  }

  /** Writes the ids (best effort: a MAD that cannot write only loses them at its next restart). */
  save(ids: ReadonlyMap<string, string>): boolean {
    if (!this.gwd) return false;
    const body: Saved = { gwd: this.gwd, ids: Object.fromEntries(ids) };
    try {
      writeFileSync(`${this.file}.tmp`, JSON.stringify(body), { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
      return true;
    } catch {
      return false;
    }
  }
}
