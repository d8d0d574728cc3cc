import { open, stat } from 'node:fs/promises';
import { FileWatch } from '../../shared/fs/file-watch.js';

/**
 * Follows an append-only log file (dnsmasq's --log-facility, dhcpd -d output)
 * and hands every new complete line to `onLine`. Starts at the current end:
 * only lines written after start() count. A truncated file is re-read from 0.
 */
export class LogTail {
  private offset = 0;
  private partial = '';
  private reading: Promise<void> = Promise.resolve();
  private readonly watch: FileWatch;

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
  ) {
    this.watch = new FileWatch(file, () => this.schedule(), 250);
  }

  /** Skips what is already there and starts following. */
  async start(): Promise<void> {
    this.offset = await sizeOf(this.file);
    await this.watch.start();
  }

  /** Reads any new lines now (also used by tests and before a wait). */
  flush(): Promise<void> {
    return this.schedule();
  }

  /** Stops following. */
  async stop(): Promise<void> {
    await this.watch.stop();
    await this.reading;
  }

  private schedule(): Promise<void> {
    this.reading = this.reading.then(() => this.readNew()).catch(() => undefined);
    return this.reading;
  }

  private async readNew(): Promise<void> {
    const size = await sizeOf(this.file);
    if (size < this.offset) {
      this.offset = 0;
      this.partial = '';
    }
    if (size === this.offset) return;
    const handle = await open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buffer.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line) this.onLine(line);
    } finally {
      await handle.close();
    }
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}
