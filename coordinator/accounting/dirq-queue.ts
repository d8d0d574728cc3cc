import { randomInt } from 'node:crypto';
import { link, mkdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where finished messages go (the SSM sender's outgoing queue). */
export interface MessageQueue {
  /** Adds one message; resolves with its name in the queue (`<dir>/<element>`). Throws on a file system error. */
  add(text: string): Promise<string>;
}

/** QueueSimple's default granularity: a new intermediate directory at most once a minute. */
const GRANULARITY_S = 60;

/**
 * A directory queue in python-dirq's QueueSimple layout, the one the APEL
 * SSM sender reads its outgoing messages from: intermediate directories
 * named by the insertion time (8 hex digits of the unix seconds, rounded
 * down to the granularity), holding one file per message named
 * SSSSSSSSMMMMMR (14 hex digits: seconds, microseconds, a random digit).
 * A message is written under `<name>.tmp` and then linked to its name (the
 * temporary name removed), so the sender never sees half a message.
 */
export class DirQueueSimple implements MessageQueue {
  constructor(
    private readonly dir: string,
    /** Wall clock in unix ms (a fake in tests). */
    private readonly nowMs: () => number = () => Date.now(),
    /** The microseconds of the element name (0 to 999 999). */
    private readonly micros: () => number = () => randomInt(1_000_000),
  ) {}

  async add(text: string): Promise<string> {
    const ms = this.nowMs();
    const seconds = Math.floor(ms / 1000);
    const sub = hex(seconds - (seconds % GRANULARITY_S), 8);
    await mkdir(path.join(this.dir, sub), { recursive: true });
    const micros = ((ms % 1000) * 1000 + this.micros()) % 1_000_000;
    // A name taken already (two messages in one microsecond) gets the next random digit.
    for (let attempt = 0; attempt < 16; attempt++) {
      const name = `${hex(seconds, 8)}${hex(micros, 5)}${hex(randomInt(16), 1)}`;
      const final = path.join(this.dir, sub, name);
      const tmp = `${final}.tmp`;
      try {
        await writeFile(tmp, text, { flag: 'wx', mode: 0o644 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      // link() publishes the whole file at once and, unlike rename(), refuses to replace one that exists.
      try {
        await link(tmp, final);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
      return `${sub}/${name}`;
    }
    throw new Error(`could not find a free message name in ${path.join(this.dir, sub)}`);
  }
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0').slice(-width);
}
