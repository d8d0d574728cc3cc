import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { SerialQueue } from '../../shared/async/serial-queue.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import { FailedPreconditionError } from '../../shared/errors.js';
import { sha256, writeAtomically } from './atomic-write.js';
import { checkPolicyText, formatProblem, policyConfigError, readPolicyFile, type PolicyCheckResult } from './policy-check.js';
import type { PolicyProblem } from './policy-rules.js';
import type { Policy } from './policy-schema.js';

/** A version of the policy file that was refused; the policy before it stays in force. */
export interface PolicyRejection {
  file: string;
  problems: PolicyProblem[];
  atUnixMs: number;
}

/** What `policy status` shows: the file, when and which text was applied, and the last refusal since. */
export interface PolicyStatus {
  file: string;
  loadedAtUnixMs: number;
  /** sha256 (hex) of the applied file text. */
  sha256: string;
  /** Set while the file on disk is a refused version; cleared when a valid (or the applied) text is back. */
  lastError?: PolicyRejection;
}

/** Options of a PolicyWatcher; every field has a default. */
export interface PolicyWatcherOptions {
  /** Wall clock for the timestamps (default: the system clock). */
  clock?: Clock;
  /** Quiet time after the last file event before re-reading (default 100 ms): editors write in bursts. */
  debounceMs?: number;
  /** Pool size, for the sum-of-mins warning (default: unknown, so the sum is only noted). */
  capacity?: number;
}

/** Lifecycle: idle → starting → running → stopping → stopped (a failed start goes back to idle). */
export type PolicyWatcherState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Events: `change` after a new policy is in force; `rejected` when a version of the file is refused. */
export interface PolicyWatcherEvents {
  change: [policy: Policy, previous: Policy];
  rejected: [rejection: PolicyRejection];
}

/**
 * Keeps the VO policy file in force: loads it at start, then follows edits
 * (in place or by rename-replace, as editors and `policy apply` do). A valid
 * version replaces the policy; an invalid one is refused and the old policy
 * stays, with the refusal in status().lastError.
 */
export class PolicyWatcher extends EventEmitter<PolicyWatcherEvents> {
  /** Absolute path of the policy file. */
  readonly file: string;
  private readonly clock: Clock;
  private readonly debounceMs: number;
  private readonly capacity: number | undefined;
  private readonly queue = new SerialQueue(); // reloads and applies never interleave
  private lifecycle: PolicyWatcherState = 'idle';
  private policy: Policy | undefined;
  private appliedText = '';
  private appliedSha = '';
  private loadedAtUnixMs = 0;
  private rejection: PolicyRejection | undefined;
  private rejectedSha: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    file: string,
    private readonly log: Logger,
    options: PolicyWatcherOptions = {},
  ) {
    super();
    this.file = path.resolve(file);
    this.clock = options.clock ?? systemClock;
    this.debounceMs = options.debounceMs ?? 100;
    this.capacity = options.capacity;
  }

  /** The lifecycle state. */
  get state(): PolicyWatcherState {
    return this.lifecycle;
  }

  /** The policy in force. Throws FailedPreconditionError before start(). */
  get current(): Policy {
    return this.loaded();
  }

  /** The YAML text of the policy in force (for `policy show`). Throws FailedPreconditionError before start(). */
  get text(): string {
    this.loaded();
    return this.appliedText;
  }

  /** The refusal of the file's current version, if it was refused. */
  get lastError(): PolicyRejection | undefined {
    return this.rejection;
  }

  /** File, load time, applied text's sha256 and the last refusal. Throws FailedPreconditionError before start(). */
  status(): PolicyStatus {
    this.loaded();
    const s: PolicyStatus = { file: this.file, loadedAtUnixMs: this.loadedAtUnixMs, sha256: this.appliedSha };
    return this.rejection ? { ...s, lastError: this.rejection } : s;
  }

  /** Loads the file and starts watching it. Throws ConfigError if the file is unreadable or invalid. */
  start(): Promise<void> {
    if (this.lifecycle !== 'idle') return Promise.reject(new FailedPreconditionError(`the policy watcher is ${this.lifecycle}`));
    this.lifecycle = 'starting';
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    try {
      // The same read and check as `vonode-coordinator --check` and `vonode policy check`.
      const { text, result } = await readPolicyFile(this.file, { capacity: this.capacity });
      if (!result.ok) throw policyConfigError(this.file, result.problems);
      this.accept(text, result.policy, result.warnings);
      // Watch the directory, not the file: a rename-replace swaps the inode a file watch would follow.
      // node's fs.watch (inotify) names the entry that changed; chokidar would re-list the whole
      // directory (readdir + lstat of every entry) on each change in it, and /etc/vonode often
      // holds the site PKI: thousands of agent certificates (measured: 2.8 s of coordinator CPU in
      // one benchmark run with 4,000 files beside the policy).
      const base = path.basename(this.file);
      this.watcher = watch(path.dirname(this.file), { persistent: true }, (_event, name) => {
        if (name === null || name === base) this.schedule();
      });
      this.watcher.on('error', (e) => this.log.warn({ err: e, file: this.file }, 'policy file watch error'));
      if (this.shuttingDown()) return; // shutdown() came while starting; it closes the watcher
      this.lifecycle = 'running';
      this.schedule(); // an edit between the first read and 'ready' would otherwise go unseen
    } catch (e) {
      this.watcher?.close();
      this.watcher = undefined;
      if (!this.shuttingDown()) this.lifecycle = 'idle';
      throw e;
    }
  }

  /**
   * Checks `text` and, if valid, writes it to the file atomically (temp file +
   * rename in the same directory) and puts it in force; an invalid text is
   * returned with its problems and the file is left alone. Throws on I/O errors
   * and FailedPreconditionError once shut down.
   */
  apply(text: string): Promise<PolicyCheckResult> {
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') {
      return Promise.reject(new FailedPreconditionError(`the policy watcher is ${this.lifecycle}`));
    }
    return this.queue.run(async () => {
      const result = checkPolicyText(text, this.file, { capacity: this.capacity });
      if (!result.ok) return result;
      await writeAtomically(this.file, text);
      // Before start() the file is only written; start() will load it.
      if (this.policy) this.accept(text, result.policy, result.warnings);
      return result;
    });
  }

  /** Stops watching and waits for a reload in progress. */
  async shutdown(): Promise<void> {
    if (this.lifecycle === 'stopped') return;
    const starting = this.lifecycle === 'starting';
    this.lifecycle = 'stopping';
    clearTimeout(this.timer);
    if (starting) await this.starting?.catch(() => undefined); // let start() finish, then undo it
    this.watcher?.close();
    this.watcher = undefined;
    await this.queue.run(async () => undefined);
    this.lifecycle = 'stopped';
  }

  /** shutdown() has been called (possibly while starting). */
  private shuttingDown(): boolean {
    return this.lifecycle === 'stopping' || this.lifecycle === 'stopped';
  }

  private loaded(): Policy {
    if (!this.policy) throw new FailedPreconditionError('the policy watcher has not loaded a policy yet');
    return this.policy;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.queue.run(() => this.reload()), this.debounceMs);
  }

  private async reload(): Promise<void> {
    if (this.lifecycle !== 'running') return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      this.reject(undefined, [{ path: '(file)', message: `cannot read: ${(e as Error).message}; restore the file` }]);
      return;
    }
    const sha = sha256(text);
    if (sha === this.rejectedSha) return; // the same refused text again (editors touch files twice)
    const result = checkPolicyText(text, this.file, { capacity: this.capacity });
    if (result.ok) this.accept(text, result.policy, result.warnings);
    else this.reject(sha, result.problems);
  }

  private accept(text: string, policy: Policy, warnings: PolicyProblem[]): void {
    const sha = sha256(text);
    this.rejection = undefined;
    this.rejectedSha = undefined;
    if (sha === this.appliedSha) return; // the applied text again: nothing changes
    const previous = this.policy;
    this.policy = policy;
    this.appliedText = text;
    this.appliedSha = sha;
    this.loadedAtUnixMs = this.clock.nowMs();
    this.log.info({ file: this.file, sha256: sha, vos: policy.vos.map((v) => v.name) }, 'policy in force');
    for (const w of warnings) this.log.warn({ file: this.file }, `policy: ${formatProblem(w)}`);
    if (previous) this.emitSafely('change', () => this.emit('change', policy, previous));
  }

  private reject(sha: string | undefined, problems: PolicyProblem[]): void {
    this.rejectedSha = sha;
    const rejection: PolicyRejection = { file: this.file, problems, atUnixMs: this.clock.nowMs() };
    this.rejection = rejection;
    this.log.warn({ file: this.file, problems: problems.map(formatProblem) }, 'policy file refused; the previous policy stays in force');
    this.emitSafely('rejected', () => this.emit('rejected', rejection));
  }

  /** A throwing listener must not break reloading; it is logged instead. */
  private emitSafely(event: keyof PolicyWatcherEvents, emit: () => void): void {
    try {
      emit();
    } catch (err) {
      this.log.error({ err, event }, 'policy listener threw');
    }
  }
}
