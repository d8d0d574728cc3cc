import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError } from '../../shared/errors.js';
import { writeFileAtomic } from '../dhcp/atomic-file.js';

/** Name of the fence's file in the agent's state directory. */
export const COORDINATOR_TERM_FILE = 'coordinator-term.json';

/** What the file holds. */
interface TermRecord {
  term: number;
  updatedUnixMs: number;
}

/** What the agent's service asks of the fence (tests may fake it). */
export interface TermAdmission {
  /** Resolves if a request from a coordinator of `term` may run; throws FailedPreconditionError if not. */
  admit(term: number, what: string): Promise<void>;
}

/** The file exists but is not a term this agent wrote; the agent refuses to start rather than forget the fence. */
export class CoordinatorTermFileError extends Error {}

/**
 * Fences off deposed coordinator leaders. An HA coordinator stamps its
 * requests and answers with its term (the etcd revision of its election key,
 * which only grows); the fence keeps the newest term seen, in
 * `<stateDir>/coordinator-term.json` (replaced atomically), so it survives an
 * agent restart. A Deploy or Remove stamped with an older term comes from a
 * leader that has been replaced but does not know it yet, and is refused.
 * Term 0 is a coordinator without HA (SQLite): admitted only while no HA term
 * has been seen.
 */
export class CoordinatorTermFence implements TermAdmission {
  private current = 0;
  /** Writes in order, each writing the newest term at its turn, so the file never goes back. */
  private writes: Promise<void> = Promise.resolve();
  private written = 0;

  private constructor(private readonly file: string) {}

  /**
   * Opens the fence of a state directory (creating the directory), reading
   * the term it holds (0 without a file). Throws CoordinatorTermFileError
   * for a file that is not one the agent wrote, naming it and what to do.
   */
  static async open(stateDir: string): Promise<CoordinatorTermFence> {
    await mkdir(stateDir, { recursive: true });
    const fence = new CoordinatorTermFence(path.join(stateDir, COORDINATOR_TERM_FILE));
    fence.current = fence.written = await readTerm(fence.file);
    return fence;
  }

  /** The newest coordinator term seen (0: none, or only coordinators without HA). */
  get term(): number {
    return this.current;
  }

  /** Where the term is kept. */
  get path(): string {
    return this.file;
  }

  /**
   * Takes note of a coordinator's term (from RegisterAgent and Heartbeat
   * answers): raises the fence if it is newer, and resolves once that is on
   * disk. An older term or 0 changes nothing. Throws if the file cannot be written.
   */
  async observe(term: number): Promise<void> {
    if (!validTerm(term) || term <= this.current) return;
    this.current = term;
    await this.persist();
  }

  /**
   * Admits a request (`what`, e.g. "Deploy of vwn-003") stamped with a
   * coordinator's term, raising the fence to it first when it is newer.
   * Throws FailedPreconditionError when the term is older than one already
   * seen, or is 0 after an HA term was seen; the message says why and what to do.
   */
  async admit(term: number, what: string): Promise<void> {
    if (!validTerm(term)) throw new FailedPreconditionError(`${what} carries coordinator term ${term}, which no coordinator sends: refused`);
    const seen = this.current;
    if (term === 0 && seen > 0) {
      throw new FailedPreconditionError(
        `${what} from a coordinator without HA (term 0), but this agent has seen term ${seen} of an HA coordinator on etcd: refused ` +
          '(a coordinator of the old site may still be running). If the site went back from etcd to SQLite on purpose, stop this agent, ' +
          `delete ${this.file} and start it again`,
      );
    }
    if (term < seen) {
      throw new FailedPreconditionError(
        `${what} from a coordinator of term ${term}, older than term ${seen} already seen: a deposed leader's request, refused (the current leader will retry it)`,
      );
    }
    await this.observe(term);
  }

  private persist(): Promise<void> {
    const write = this.writes.then(async () => {
      const term = this.current;
      if (term <= this.written) return;
      const record: TermRecord = { term, updatedUnixMs: Date.now() };
      await writeFileAtomic(this.file, `${JSON.stringify(record)}\n`);
      this.written = term;
    });
    // A failed write fails its caller; the next one tries again.
    this.writes = write.catch(() => undefined);
    return write;
  }
}

function validTerm(term: number): boolean {
  return Number.isSafeInteger(term) && term >= 0;
}

async function readTerm(file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  let record: Partial<TermRecord> | undefined;
  try {
    record = JSON.parse(text) as Partial<TermRecord>;
  } catch {
    record = undefined;
  }
  const term = record?.term;
  if (typeof term !== 'number' || !validTerm(term)) {
    throw new CoordinatorTermFileError(
      `${file} does not hold a coordinator term ({"term": N}); this agent wrote no such file. ` +
        'Fix it, or delete it if no coordinator of this site runs on etcd (the agent then admits requests of any coordinator until it sees a term)',
    );
  }
  return term;
}
