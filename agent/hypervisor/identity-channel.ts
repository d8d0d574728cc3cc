import { createConnection, type Socket } from 'node:net';
import { DeadlineError, UnavailableError } from '../../shared/errors.js';

/**
 * The host end of a guest's identity port (a virtio-serial port whose
 * chardev is a unix socket): line-oriented, the guest says "ready" at its
 * template point and "ok" (or "error …") once it took an identity.
 */
export class IdentityChannel {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, nl).trim());
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined); // 'close' follows
  }

  /** Connects to the chardev socket, retrying while QEMU has not created it yet. Throws UnavailableError. */
  static async connect(path: string, timeoutMs = 5000): Promise<IdentityChannel> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        return new IdentityChannel(socket);
      } catch (e) {
        if (Date.now() > deadline) throw new UnavailableError(`cannot connect to the guest's identity port ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  /** Sends one line to the guest. */
  send(line: string): void {
    this.socket.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** Resolves with the first line `accept` takes (earlier lines are dropped). Throws DeadlineError, UnavailableError (closed), or the signal's reason. */
  async waitFor(accept: (line: string) => boolean, timeoutMs: number, what: string, signal?: AbortSignal): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      while (this.lines.length > 0) {
        const line = this.lines.shift()!;
        if (accept(line)) return line;
      }
      if (this.closed) throw new UnavailableError(`the guest's identity port closed before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new DeadlineError(`no ${what} from the guest within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const onAbort = (): void => done();
        signal?.addEventListener('abort', onAbort, { once: true });
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }
        this.waiter = done;
      });
      this.waiter = undefined;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
