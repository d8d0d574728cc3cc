import { createConnection, type Socket } from 'node:net';
import { UnavailableError } from '../../../shared/errors.js';

/** An asynchronous QMP event (SHUTDOWN, POWERDOWN, STOP …). */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

/** QEMU answered a command with an error object. */
export class QmpCommandError extends UnavailableError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
  }
}

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * A minimal QMP client over a unix socket. QMP answers commands in order, so
 * replies are matched to a FIFO of pending commands; events are dispatched to
 * listeners.
 */
export class QmpClient {
  private buffer = '';
  private readonly pending: Pending[] = [];
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.failAll(new UnavailableError('QMP connection closed')));
    socket.on('error', (e) => this.failAll(new UnavailableError(`QMP socket error: ${e.message}`, { cause: e })));
  }

  /** Connects, reads the greeting and negotiates capabilities. Throws UnavailableError if QEMU is not there. */
  static async connect(socketPath: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new UnavailableError(`QMP connect to ${socketPath} timed out`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(new UnavailableError(`cannot connect to QMP socket ${socketPath}: ${e.message}`, { cause: e }));
      });
    });
    const client = new QmpClient(socket);
    // The greeting arrives as the first line; it is consumed as the reply to a pseudo-command.
    await client.enqueue('greeting');
    await client.execute('qmp_capabilities');
    return client;
  }

  /** Runs one QMP command and resolves with its `return` value. Throws QmpCommandError or UnavailableError. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const reply = this.enqueue(command) as Promise<T>;
    this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return reply;
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when the connection closes (e.g. QEMU exited). */
  waitClosed(): Promise<void> {
    if (this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Closes the connection; QEMU keeps running. */
  close(): void {
    this.socket.destroy();
  }

  private enqueue(command: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.push({ command, resolve, reject }));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private onMessage(msg: Record<string, unknown>): void {
    if (typeof msg['event'] === 'string') {
      const event: QmpEvent = { event: msg['event'], data: msg['data'] as Record<string, unknown> | undefined };
      for (const l of this.listeners) l(event);
      return;
    }
    const next = this.pending.shift();
    if (!next) return;
    const error = msg['error'] as { class?: string; desc?: string } | undefined;
    if (error) next.reject(new QmpCommandError(next.command, error.class ?? 'Error', error.desc ?? ''));
    else next.resolve(msg['return'] ?? msg['QMP']);
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}
