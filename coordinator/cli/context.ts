import type { Command } from 'commander';
import type { CoordinatorApi } from '../../shared/rpc/coordinator-client.js';
import { FollowingCoordinatorClient } from '../../shared/rpc/following-coordinator-client.js';
import type { CliIo } from './cli-io.js';
import { connectionAddresses, connectionCredentials, resolveConnection, type Connection, type GlobalOptions } from './connection.js';
import { CliFailure, EXIT } from './errors.js';
import type { CallTarget } from './render/error-message.js';
import { joinLines } from './render/table.js';

/** A connected coordinator client and what it talks to. */
export interface CoordinatorHandle {
  /** Follows the leader when --coordinator lists several coordinators; `client.address` is the one that answered last. */
  client: CoordinatorApi;
  conn: Connection;
}

/**
 * Per-run state shared by the commands: the I/O, the exit code, the target
 * of the last connection (for error messages) and the clients to close.
 */
export class CliContext {
  /** What the run exits with unless an error is thrown. */
  exitCode: number = EXIT.ok;
  /** The server the current command talks to; error messages name it. */
  target: CallTarget | undefined;
  private readonly clients: CoordinatorApi[] = [];

  constructor(readonly io: CliIo) {}

  /** Resolves the global options (flags over environment). Throws UsageError. */
  connection(cmd: Command, address?: string): Connection {
    const conn = resolveConnection(cmd.optsWithGlobals<GlobalOptions>(), this.io.env, address);
    this.target = { what: address === undefined ? 'coordinator' : 'server', address: conn.address, tls: conn.tls !== undefined };
    return conn;
  }

  /** A client of the coordinator(s) named by the global options. Throws UsageError. */
  coordinator(cmd: Command): CoordinatorHandle {
    const conn = this.connection(cmd);
    const client = new FollowingCoordinatorClient(connectionAddresses(conn), connectionCredentials(conn));
    this.clients.push(client);
    return { client, conn };
  }

  /**
   * Waits for a unary call, at most `conn.timeoutMs` and until Ctrl-C: a
   * server that accepts the connection but never answers must not hang the
   * CLI. Throws CliFailure on timeout or interrupt (the channel is closed at
   * the end of the run, which cancels the call).
   */
  async call<T>(conn: Connection, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const signal = this.io.signal;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const addresses = connectionAddresses(conn);
        const who = this.target?.what === 'server'
          ? conn.address
          : addresses.length > 1 ? `any coordinator of ${addresses.join(', ')}` : `the coordinator at ${conn.address}`;
        reject(new CliFailure([`no answer from ${who} within ${conn.timeoutMs / 1000} s`, 'hint: it may be overloaded or stuck; check its log, or raise --timeout']));
      }, conn.timeoutMs);
      onAbort = () => reject(new CliFailure(['interrupted'], EXIT.interrupted));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([promise, stop]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Writes lines to stdout. */
  print(lines: readonly string[]): void {
    this.io.out(joinLines(lines));
  }

  /** Writes a value as indented JSON to stdout. */
  printJson(value: unknown): void {
    this.io.out(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Closes every client opened during the run. */
  close(): void {
    for (const c of this.clients.splice(0)) c.close();
  }
}
