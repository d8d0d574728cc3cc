import { spawn, type ChildProcess } from 'node:child_process';

/** One run of a hook executable. */
export interface HookRun {
  /** The executable and its arguments; never passed to a shell. */
  argv: readonly [string, ...string[]];
  /** Written to its stdin, which is then closed. */
  input: string;
  /** SIGTERM to its process group after this long… */
  timeoutMs: number;
  /** …and SIGKILL this long after that. */
  killGraceMs: number;
  env: NodeJS.ProcessEnv;
  /** Aborted: killed the same way at once (the coordinator is stopping). */
  signal?: AbortSignal;
}

/** How a hook run ended. */
export interface HookOutcome {
  /** Exit code, or null when a signal ended it or it never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It ran past its timeout and was killed. */
  timedOut: boolean;
  /** It was killed because the run was aborted. */
  aborted: boolean;
  /** The end of what it wrote to stderr (at most STDERR_TAIL_BYTES). */
  stderr: string;
  /** Why it could not be started (ENOENT, EACCES, …), if so. */
  startError?: string;
}

/** Runs hook processes; the real one is processHookSpawner. */
export interface HookSpawner {
  /** Runs one hook to its end (or its kill); never rejects. */
  run(run: HookRun): Promise<HookOutcome>;
}

/** How much of a hook's stderr is kept for the log. */
export const STDERR_TAIL_BYTES = 2048;
/** After the hook exits, how long its stderr may still deliver what is in the pipe. */
const STDERR_DRAIN_MS = 100;

/**
 * The real spawner: each hook in a process group of its own (so a timeout
 * also ends what a hook script started, e.g. a `sleep` a shell waits on),
 * stdout discarded, stderr's tail kept, cwd `/`.
 */
export const processHookSpawner: HookSpawner = {
  run: (run) =>
    new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(run.argv[0], run.argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env: run.env, cwd: '/', detached: true });
      } catch (e) {
        resolve({ code: null, signal: null, timedOut: false, aborted: false, stderr: '', startError: (e as Error).message });
        return;
      }
      let tail = Buffer.alloc(0);
      let timedOut = false;
      let aborted = false;
      let done = false;
      let killTimer: NodeJS.Timeout | undefined;
      const signalGroup = (signal: NodeJS.Signals): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, signal);
        } catch {
          // the group is gone already
        }
      };
      const kill = (): void => {
        if (killTimer || done) return;
        signalGroup('SIGTERM');
        killTimer = setTimeout(() => signalGroup('SIGKILL'), run.killGraceMs);
      };
      const termTimer = setTimeout(() => {
        timedOut = true;
        kill();
      }, run.timeoutMs);
      const onAbort = (): void => {
        aborted = true;
        kill();
      };
      run.signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (outcome: Omit<HookOutcome, 'timedOut' | 'aborted' | 'stderr'>): void => {
        if (done) return;
        done = true;
        clearTimeout(termTimer);
        clearTimeout(killTimer);
        run.signal?.removeEventListener('abort', onAbort);
        // A killed hook's leader is gone: whatever it left in its group goes too.
        if (timedOut || aborted) signalGroup('SIGKILL');
        child.stderr?.destroy();
        resolve({ ...outcome, timedOut, aborted, stderr: tail.toString('utf8') });
      };
      if (run.signal?.aborted) onAbort();
      child.stderr?.on('data', (chunk: Buffer) => {
        tail = Buffer.concat([tail, chunk]);
        if (tail.length > STDERR_TAIL_BYTES) tail = tail.subarray(tail.length - STDERR_TAIL_BYTES);
      });
      child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, signal: null, startError: e.code ?? e.message }));
      child.on('exit', (code, signal) => {
        // stderr may still hold what the hook wrote last; a child it left behind may hold the pipe open: wait briefly only.
        const drained = setTimeout(() => finish({ code, signal }), STDERR_DRAIN_MS);
        child.once('close', () => {
          clearTimeout(drained);
          finish({ code, signal });
        });
      });
      // A hook that does not read its input may exit before we finish writing (EPIPE): not an error of ours.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(run.input);
    }),
};
