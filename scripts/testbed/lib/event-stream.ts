import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import { REPO } from './testbed-process.js';

/**
 * Follows the coordinator's events through the real CLI (`vonode events
 * --json`, run on the frontend, where the coordinator's LAN address exists).
 * Keeps every event and hands each to `onEvent`.
 */
export class EventStream {
  readonly events: CoordinatorEvent[] = [];
  private proc: ChildProcessWithoutNullStreams | undefined;
  private stderr = '';

  constructor(private readonly argv: readonly string[], private readonly onEvent: (e: CoordinatorEvent) => void = () => undefined) {}

  /** Starts the CLI; events arrive through `onEvent` as it prints them. */
  start(): void {
    const [cmd, ...args] = this.argv;
    const proc = spawn(cmd!, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.on('error', (e) => (this.stderr += e.message));
    proc.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const event = CoordinatorEvent.fromJSON(JSON.parse(line));
      this.events.push(event);
      this.onEvent(event);
    });
  }

  /** What the CLI said on stderr (empty while all is well). */
  get errors(): string {
    return this.stderr;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Stops following (SIGINT: the CLI's Ctrl-C ends it cleanly). */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
