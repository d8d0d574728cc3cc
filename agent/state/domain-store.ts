import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../dhcp/atomic-file.js';
import type { VmSpec } from '../deploy/vm-spec.js';

/** Where a domain is in its life; anything but 'running' found at start-up was interrupted. */
export type DomainRecordStatus = 'deploying' | 'running' | 'removing';

/** What the agent persists about one domain, written before it acts. */
export interface DomainRecord {
  hostname: string;
  domainName: string;
  operationId: string;
  status: DomainRecordStatus;
  spec: VmSpec;
  driver: string;
  overlayPath: string;
  /** Per-domain runtime files (console log, generated config, sockets); removed with the domain. */
  runDir: string;
  /** sha256 of every cached image this domain uses (disk backing, kernel, initrd). */
  imageShas: string[];
  createdUnixMs: number;
  leasedIp?: string;
}

/**
 * One JSON file per domain under `<stateDir>/records`, replaced atomically,
 * so a crash leaves either the old or the new record, never half of one.
 */
export class DomainStore {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'records');
  }

  /** Creates the records directory. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Writes (creates or replaces) a record. */
  async put(record: DomainRecord): Promise<void> {
    await writeFileAtomic(this.fileOf(record.hostname), JSON.stringify(record, null, 2) + '\n');
  }

  /** The record of a hostname, if any. */
  async get(hostname: string): Promise<DomainRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.fileOf(hostname), 'utf8')) as DomainRecord;
    } catch {
      return undefined;
    }
  }

  /** Deletes a record; a missing one is fine. */
  async delete(hostname: string): Promise<void> {
    await rm(this.fileOf(hostname), { force: true });
  }

  /** All records (unreadable files are skipped: the writer is atomic, so they are foreign). */
  async list(): Promise<DomainRecord[]> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    const records = await Promise.all(names.map((n) => this.get(n.slice(0, -'.json'.length))));
    return records.filter((r): r is DomainRecord => r !== undefined);
  }

  private fileOf(hostname: string): string {
    return path.join(this.dir, `${hostname}.json`);
  }
}
