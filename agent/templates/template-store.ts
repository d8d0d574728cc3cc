import { mkdir, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../dhcp/atomic-file.js';
import { digestFile } from '../../shared/fs/file-digest.js';
import type { FileDigest, TemplateFiles } from '../hypervisor/snapshot.js';
import { shapeMismatch, templateKey, type TemplateShape } from './template-key.js';

/** One saved template as recorded on disk (<dir>/<key>/template.json beside state.bin). */
export interface TemplateRecord {
  key: string;
  shape: TemplateShape;
  stateBytes: number;
  stateSha256: string;
  /** The guest's RAM file (a restore maps it copy-on-write). */
  memoryBytes: number;
  memorySha256: string;
  createdUnixMs: number;
  /** How long saving it took (boot to the template point and the save). */
  buildMs: number;
}

/** A template found for a shape: its record and the files to restore. */
export interface FoundTemplate {
  record: TemplateRecord;
  files: TemplateFiles;
}

const recordSchema = z.object({
  key: z.string().regex(/^[0-9a-f]{32}$/),
  shape: z.object({
    hypervisor: z.string(), hypervisorVersion: z.string(), diskSha256: z.string(), kernelSha256: z.string(), initrdSha256: z.string(),
    cmdline: z.string(), memoryMb: z.number().int(), vcpus: z.number().int(), vo: z.string(),
  }),
  stateBytes: z.number().int().nonnegative(),
  stateSha256: z.string().regex(/^[0-9a-f]{64}$/),
  memoryBytes: z.number().int().nonnegative(),
  memorySha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdUnixMs: z.number(),
  buildMs: z.number(),
});

const STATE_FILE = 'state.bin';
const MEMORY_FILE = 'memory.bin';
const RECORD_FILE = 'template.json';

/** Why a lookup found nothing usable, for the VMB phase's details and the log. */
export type TemplateLookup = { found: FoundTemplate } | { found?: undefined; reason: 'none' | 'refused'; detail: string };

/**
 * The agent's snapshot templates, one directory per key under `dir`. A
 * record is written only after its files are complete, so a directory
 * without a valid record is a build that died and is deleted.
 *
 * The state stream is small and checked against its sha256 on every restore
 * (by the driver). The memory file is the guest's RAM (hundreds of MB):
 * hashing it on every restore would cost more than the restore, so it is
 * checked once per agent process and again whenever its size, mtime, ctime
 * or inode change; a build's own digest counts as a check.
 */
export class TemplateStore {
  /** Memory files known to match their record: key → stat signature at the check. */
  private readonly verified = new Map<string, string>();

  constructor(readonly dir: string) {}

  /** Where a build of `key` writes its files (the driver renames them into place when done). */
  async filesFor(key: string): Promise<TemplateFiles> {
    await mkdir(path.join(this.dir, key), { recursive: true });
    return { state: path.join(this.dir, key, STATE_FILE), memory: path.join(this.dir, key, MEMORY_FILE) };
  }

  /** Records a finished build. */
  async commit(shape: TemplateShape, digest: { state: FileDigest; memory: FileDigest }, createdUnixMs: number, buildMs: number): Promise<TemplateRecord> {
    const record: TemplateRecord = {
      key: templateKey(shape), shape,
      stateBytes: digest.state.bytes, stateSha256: digest.state.sha256,
      memoryBytes: digest.memory.bytes, memorySha256: digest.memory.sha256,
      createdUnixMs, buildMs,
    };
    await writeFileAtomic(path.join(this.dir, record.key, RECORD_FILE), JSON.stringify(record, null, 2) + '\n');
    const signature = await this.signature(record.key);
    if (signature) this.verified.set(record.key, signature);
    return record;
  }

  /**
   * The template for `shape`, if one is complete and was made for exactly
   * this shape: a record of another shape under the key (a hand-copied or
   * tampered directory), or a state file of the wrong size, is refused.
   */
  async find(shape: TemplateShape): Promise<TemplateLookup> {
    const key = templateKey(shape);
    const record = await this.read(key);
    if (!record) return { reason: 'none', detail: `no template ${key} for this appliance and shape yet` };
    const mismatch = shapeMismatch(shape, record.shape);
    if (mismatch) return { reason: 'refused', detail: `template ${key} was made for another shape (${mismatch})` };
    const files = { state: path.join(this.dir, key, STATE_FILE), memory: path.join(this.dir, key, MEMORY_FILE) };
    const stateSize = await stat(files.state).then((st) => st.size, () => -1);
    if (stateSize !== record.stateBytes) return { reason: 'refused', detail: `template ${key}'s state file has ${stateSize} bytes, its record says ${record.stateBytes}` };
    const memoryProblem = await this.checkMemory(record, files.memory);
    if (memoryProblem) return { reason: 'refused', detail: memoryProblem };
    await utimes(path.join(this.dir, key, RECORD_FILE), new Date(), new Date()).catch(() => undefined); // last use, for pruning
    return { found: { record, files } };
  }

  /** Undefined when the memory file matches its record (re-hashed only when its stat signature changed). */
  private async checkMemory(record: TemplateRecord, memoryPath: string): Promise<string | undefined> {
    const signature = await this.signature(record.key);
    if (!signature) return `template ${record.key} has no memory file`;
    if (this.verified.get(record.key) === signature) return undefined;
    this.verified.delete(record.key);
    const digest = await digestFile(memoryPath).catch(() => undefined);
    if (!digest || digest.bytes !== record.memoryBytes || digest.sha256 !== record.memorySha256) {
      return `template ${record.key}'s memory file does not match its sha256 (corrupt or changed)`;
    }
    this.verified.set(record.key, signature);
    return undefined;
  }

  /** size:mtime:ctime:inode of a template's memory file, or undefined when it is missing. */
  private async signature(key: string): Promise<string | undefined> {
    const st = await stat(path.join(this.dir, key, MEMORY_FILE)).catch(() => undefined);
    return st ? `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}` : undefined;
  }

  /** Deletes a template (stale, corrupt, or pruned). */
  async remove(key: string): Promise<void> {
    if (!/^[0-9a-f]{32}$/.test(key)) throw new Error(`not a template key: ${key}`);
    this.verified.delete(key);
    await rm(path.join(this.dir, key), { recursive: true, force: true });
  }

  /** Deletes directories without a valid record: builds that died with the agent (call before any build starts). */
  async sweepIncomplete(): Promise<string[]> {
    const swept: string[] = [];
    for (const key of await readdir(this.dir).catch(() => [] as string[])) {
      if (/^[0-9a-f]{32}$/.test(key) && !(await this.read(key))) {
        await this.remove(key);
        swept.push(key);
      }
    }
    return swept;
  }

  /** Every valid template, most recently used first. */
  async list(): Promise<Array<TemplateRecord & { lastUsedMs: number }>> {
    const keys = await readdir(this.dir).catch(() => [] as string[]);
    const out: Array<TemplateRecord & { lastUsedMs: number }> = [];
    for (const key of keys) {
      if (!/^[0-9a-f]{32}$/.test(key)) continue;
      const record = await this.read(key);
      if (!record) continue;
      const used = await stat(path.join(this.dir, key, RECORD_FILE)).then((s) => s.mtimeMs, () => 0);
      out.push({ ...record, lastUsedMs: used });
    }
    return out.sort((a, b) => b.lastUsedMs - a.lastUsedMs);
  }

  private async read(key: string): Promise<TemplateRecord | undefined> {
    try {
      const parsed = recordSchema.safeParse(JSON.parse(await readFile(path.join(this.dir, key, RECORD_FILE), 'utf8')));
      return parsed.success && parsed.data.key === key ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}
