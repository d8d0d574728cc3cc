import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { InvalidArgumentError, UnavailableError } from '../../../shared/errors.js';

/** What one virsh command printed, split into its output and its `error:` lines. */
export interface VirshResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

interface Pending {
  sentinel: string;
  resolve(r: VirshResult): void;
  reject(e: Error): void;
}

const PROMPT = 'virsh # ';

/** Quotes one argument for virsh's own command-line tokenizer. Throws on characters it cannot carry. */
export function quoteVirshArg(arg: string): string {
  if (/['\n\r\\]/.test(arg)) throw new InvalidArgumentError('virsh argument', `"${arg}" contains a quote, backslash or newline`);
  return `'${arg}'`;
}

/**
 * One long-lived interactive `virsh -c URI` connection. The libvirt test
 * driver keeps its state only inside one connection, and on a real host one
 * connection saves the per-command connect. Commands run one at a time; each
 * is followed by `echo <sentinel>` so its output can be cut out of the
 * stream. stderr is merged into stdout (by a constant sh wrapper, the URI
 * passed as an argument) so `error:` lines arrive in order with the output.
 */
export class VirshSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private buffer = '';
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Pending | undefined;
  private counter = 0;

  constructor(
    private readonly uri: string,
    private readonly virsh = 'virsh',
  ) {}

  /** Runs one virsh command; resolves with its output (ok false if it printed an error). Throws UnavailableError if virsh dies. */
  exec(args: readonly string[]): Promise<VirshResult> {
    const line = args.map(quoteVirshArg).join(' ');
    const run = this.queue.then(() => this.send(line));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Ends the virsh process. */
  close(): void {
    this.child?.stdin.end();
    this.child?.kill();
    this.child = undefined;
  }

  /** PID of the virsh process, if running (tests kill it to prove restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private ensureChild(): ChildProcessWithoutNullStreams {
    if (this.child && this.child.exitCode === null && !this.child.killed) return this.child;
    const child = spawn('sh', ['-c', 'exec "$1" -q -c "$2" 2>&1', 'sh', this.virsh, this.uri], { stdio: 'pipe' });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => this.onData(d));
    child.on('exit', (code) => {
      if (this.child === child) this.child = undefined;
      this.pending?.reject(new UnavailableError(`virsh (${this.uri}) exited with code ${code}: is libvirt reachable at that URI?`));
      this.pending = undefined;
    });
    child.stdin.on('error', () => undefined);
    this.buffer = '';
    this.child = child;
    return child;
  }

  private send(line: string): Promise<VirshResult> {
    const child = this.ensureChild();
    // No leading dash: virsh would parse it as an option of echo.
    const sentinel = `vonode-end-${process.pid}-${++this.counter}`;
    return new Promise<VirshResult>((resolve, reject) => {
      this.pending = { sentinel, resolve, reject };
      child.stdin.write(`${line}\necho ${sentinel}\n`);
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    const p = this.pending;
    if (!p) return;
    const marker = `${PROMPT}echo ${p.sentinel}\n${p.sentinel}`;
    const end = this.buffer.indexOf(marker);
    if (end < 0) return;
    const body = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end + marker.length);
    this.pending = undefined;
    // Drop the echoed command line(s); keep what the command printed.
    const lines = body.split('\n').filter((l) => !l.startsWith(PROMPT));
    const errors = lines.filter((l) => l.startsWith('error: '));
    const out = lines.filter((l) => !l.startsWith('error: '));
    p.resolve({ ok: errors.length === 0, stdout: out.join('\n').trim(), stderr: errors.join('\n') });
  }
}
