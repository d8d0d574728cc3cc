import type { Writable } from 'node:stream';

/**
 * The MAD's only way to write to gwd: one call writes one whole line (text
 * plus `\n`) with a single write, so lines never interleave however many
 * requests are answered at once. After the stream fails (EPIPE once gwd has
 * closed its end) every write is dropped and `onClosed` has been called once.
 */
export class LineWriter {
  private closed = false;

  constructor(
    private readonly out: Writable,
    private readonly onClosed: (err?: Error) => void = () => undefined,
  ) {
    out.on('error', (err: Error) => this.close(err));
    out.on('close', () => this.close());
  }

  /** True until the stream failed or closed. */
  get open(): boolean {
    return !this.closed;
  }

  /** Writes one line; returns false if it was dropped (stream closed). Throws for a line containing a newline (a bug). */
  write(line: string): boolean {
    if (/[\r\n]/.test(line)) throw new Error(`refusing to write a reply with a line break: ${JSON.stringify(line.slice(0, 80))}`);
    if (this.closed) return false;
    this.out.write(`${line}\n`);
    return true;
  }

  private close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed(err);
  }
}
