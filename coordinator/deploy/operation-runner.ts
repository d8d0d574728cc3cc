import { setMaxListeners } from 'node:events';
import { status } from '@grpc/grpc-js';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { PhaseMark } from '../../shared/phases.js';
import { isAgentCallError, type AgentClient } from '../../shared/rpc/agent-client.js';
import { phaseMarkToWire } from '../../shared/rpc/phase-codec.js';
import { usageStart } from '../accounting/usage-start.js';
import type { EventBus } from '../events/event-bus.js';
import type { NodePool } from '../pool/node-pool.js';
import type { OperationRecord } from '../store/records.js';
import type { StateStore } from '../store/state-store.js';
import { attemptError, runDeployAttempt, runRemoveAttempt, type AttemptObserver } from './attempt-runner.js';
import { classifyDeployFailure, type DeployFailureCause } from './deploy-failure.js';
import { runTimedPhase, runVisibility, type GridSteps } from './grid-steps.js';
import type { AttemptStarter, QueueControl, QueueSettings } from './queue-contracts.js';
import { vmSpecFor, type VoAppliance } from './vo-catalog.js';

/** Gives the gRPC client of a registered host's agent. */
export interface AgentClients {
  /** Throws NotFoundError if the host is not registered. */
  get(host: string): AgentClient;
}

/** Outcome listener (metrics). */
export interface OperationListener {
  onPhase?(mark: PhaseMark): void;
  /** An operation ended for good; a failed deployment comes with what made it fail. */
  onFinished?(op: OperationRecord, cause?: DeployFailureCause): void;
}

/** What the runner works with. */
export interface OperationRunnerDeps {
  store: StateStore;
  pool: NodePool;
  queue: QueueControl;
  clients: AgentClients;
  /** Batch system, information system and meta-scheduler steps (noGridSteps when none is configured). */
  grid: GridSteps;
  events: EventBus;
  clock: Clock;
  logger: Logger;
  settings: QueueSettings;
  listener?: OperationListener;
}

// Which agent answers are not retried on another host (they would fail the same way there) is
// decided, with the reason given, by classifyDeployFailure (deploy-failure.ts).
// A removal the agent could not do is tried again after this pause (not in a tight loop).
const REMOVAL_RETRY_PAUSE_MS = 2000;
/**
 * A cancelled Deploy is undone by the agent itself, a moment after the
 * coordinator stops reading its stream; a Remove that arrives first is told
 * "still deploying". The cleanup asks again this often, this many times
 * (the agent's undo is a destroy and a few file removals: well under 10 s).
 */
const CLEANUP_RETRY_PAUSE_MS = 200;
const CLEANUP_MAX_TRIES = 50;

/**
 * Runs the attempts the queue dispatches: streams them from the agent,
 * persists every phase before publishing it, cleans up a failed attempt on
 * its host and queues a retry on another one, and frees the pool triple
 * only when nothing on any host still uses it.
 */
export class OperationRunner implements AttemptStarter {
  private readonly abort = new AbortController();

  constructor(private readonly deps: OperationRunnerDeps) {
    // Every running attempt listens on this one signal (hundreds at scale): not a leak.
    setMaxListeners(0, this.abort.signal);
  }

  /** Starts a deployment attempt on `host` (the queue already holds the host's slot). */
  startDeploy(op: OperationRecord, host: string, app: VoAppliance): void {
    const { store } = this.deps;
    const attempt = op.attempt + 1;
    const running = store.transaction(() => {
      store.updateNode(op.node, { host, state: 'deploying', operationId: op.id, error: '' });
      return store.updateOperation(op.id, { state: 'running', host, attempt, error: '' })!;
    });
    this.deps.queue.publish(running);
    void this.deploy(running, host, app);
  }

  /** Starts a drain or removal on `host`. */
  startRemoval(op: OperationRecord, host: string): void {
    const { store } = this.deps;
    const ownsNode = store.node(op.node)?.host === host && op.trigger !== 'recovery';
    const running = store.transaction(() => {
      if (ownsNode) store.updateNode(op.node, { state: op.kind === 'drain' ? 'draining' : 'removing', operationId: op.id });
      return store.updateOperation(op.id, { state: 'running', host, attempt: op.attempt + 1, error: '' })!;
    });
    this.deps.queue.publish(running);
    void this.remove(running, host, ownsNode);
  }

  /** Fails an operation for good and frees its triple; `cause` (default 'other') says what made a deployment fail. */
  giveUp(op: OperationRecord, reason: string, cause: DeployFailureCause = 'other'): void {
    const { store, pool, clock } = this.deps;
    const failed = store.transaction(() => {
      if (op.kind === 'deploy') {
        // A deployment given up after its VM ran (e.g. it never became visible): that life ends here.
        store.endUsage(op.node, { endMs: clock.nowMs(), status: 'failed', endOperationId: op.id });
        pool.release(op.node);
      }
      return store.updateOperation(op.id, { state: 'failed', error: reason, finishedMs: clock.nowMs() })!;
    });
    this.deps.logger.warn({ op: op.id, node: op.node, reason }, 'operation failed');
    this.deps.queue.publish(failed);
    this.deps.listener?.onFinished?.(failed, cause);
  }

  /** Aborts running attempts (coordinator shutdown); agents undo what they did. */
  abortAll(): void {
    this.abort.abort(new Error('coordinator shutting down'));
  }

  private observer(op: OperationRecord, host: string, extra?: (mark: PhaseMark) => void): AttemptObserver {
    return {
      onPhase: (mark) => {
        this.deps.store.insertPhase({ ...mark, operationId: op.id, attempt: op.attempt, host, durationMs: mark.durationMs ?? 0 });
        this.deps.events.publish({ event: { $case: 'phase', value: phaseMarkToWire({ ...mark, operationId: op.id }) } });
        this.deps.listener?.onPhase?.(mark);
        extra?.(mark);
      },
    };
  }

  private async deploy(op: OperationRecord, host: string, app: VoAppliance): Promise<void> {
    const { store, queue, clock, logger, settings } = this.deps;
    const node = store.node(op.node)!;
    const log = logger.child({ op: op.id, node: op.node, host, attempt: op.attempt });
    log.info({ vo: op.vo }, 'deployment attempt started');
    const watch = this.observer(op, host, (mark) => {
      // The host's image work is done: the next deployment may start while this guest boots.
      if (mark.edge === 'end' && mark.phase === 'PT') queue.releaseTransfer(op.id, true);
      if (mark.edge === 'end' && mark.phase === 'VMB') queue.releaseHost(op.id);
    });
    // The batch system must know the host before the guest's execution daemon
    // starts (SGE's qmaster turns an unknown execd away): registration begins
    // with the deployment; SR is measured from the guest's lease to the node
    // being available in its queue.
    // The attempt is on record (etcd: committed under this leader's term) before anything acts on it.
    try {
      await store.durable();
    } catch (e) {
      queue.finished(op.id);
      log.error({ err: errorMessage(e) }, 'the attempt could not be recorded; not starting it');
      return;
    }
    const admitAbort = new AbortController();
    const stopAdmission = (): void => admitAbort.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', stopAdmission, { once: true });
    const register = this.deps.grid.register;
    const admission = register ? register(node, admitAbort.signal) : undefined;
    admission?.catch(() => undefined);
    try {
      const client = this.deps.clients.get(host);
      const spec = vmSpecFor(node, app);
      const domain = await runDeployAttempt(client, op.id, spec, watch, settings.phaseTimeouts, this.abort.signal);
      const phaseDeps = { clock, timeouts: settings.phaseTimeouts, onPhase: watch.onPhase, signal: this.abort.signal, logger: log };
      if (admission) await runTimedPhase('SR', node, op.id, () => admission, phaseDeps);
      const runningSince = clock.nowMs();
      store.transaction(() => {
        store.updateNode(op.node, { state: 'running', sinceMs: runningSince });
        // The VM's usage record starts with the node running, in the same transaction.
        store.startUsage(usageStart(spec, { host, operationId: op.id, attempt: op.attempt, startMs: runningSince, applianceId: app.applianceId }));
      });
      queue.publish(store.operation(op.id)!);
      await runVisibility(this.deps.grid.visibility, node, op.id, phaseDeps);
      const done = store.updateOperation(op.id, { state: 'succeeded', finishedMs: clock.nowMs() })!;
      log.info({ ip: domain.leasedIp }, 'node deployed');
      queue.publish(done);
      this.deps.listener?.onFinished?.(done);
    } catch (e) {
      admitAbort.abort(e);
      await this.deployFailed(op, host, e, log);
    } finally {
      this.abort.signal.removeEventListener('abort', stopAdmission);
      queue.finished(op.id);
    }
  }

  private async deployFailed(op: OperationRecord, host: string, e: unknown, log: Logger): Promise<void> {
    const { store, settings } = this.deps;
    const failure = classifyDeployFailure(op.vo, host, e);
    log.warn({ err: errorMessage(e), cause: failure.cause, retryable: failure.retryable }, 'deployment attempt failed; cleaning up on the host');
    // Before the cleanup frees the host's slot: the next dispatch pass already prefers other hosts.
    if (failure.cause === 'other') this.deps.queue.hostFailed(host);
    await this.cleanup(op, host, log);
    if (this.abort.signal.aborted) return; // shutting down: the restart's recovery decides
    if (!failure.retryable || op.attempt >= settings.maxAttempts) return this.giveUp(op, failure.reason, failure.cause);
    const retrying = store.updateOperation(op.id, { state: 'retrying', error: failure.reason, excludedHosts: [...op.excludedHosts, host] })!;
    this.deps.queue.publish(retrying);
    const requeued = store.transaction(() => {
      // The failed attempt's VM (if it ran) is gone: its life ends; the next attempt starts another.
      store.endUsage(op.node, { endMs: this.deps.clock.nowMs(), status: 'failed', endOperationId: op.id });
      store.updateNode(op.node, { host: '', state: 'deploying' });
      return store.updateOperation(op.id, { state: 'queued' })!;
    });
    this.deps.queue.publish(requeued);
  }

  /** Best-effort removal of a failed attempt's leftovers; an unreachable agent is cleaned when it registers again. */
  private async cleanup(op: OperationRecord, host: string, log: Logger): Promise<void> {
    await this.deps.grid.forget?.(op.node).catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'could not remove the node from the batch system'));
    for (let tries = 1; ; tries++) {
      try {
        const client = this.deps.clients.get(host);
        await runRemoveAttempt(client, op.id, op.node, 0, { onPhase: () => undefined }, {});
        return;
      } catch (e) {
        // The agent is still undoing the abandoned Deploy: the failure is reported once it is gone.
        const undoing = isAgentCallError(e) && e.code === status.FAILED_PRECONDITION;
        if (!undoing || tries >= CLEANUP_MAX_TRIES || this.abort.signal.aborted) {
          log.warn({ err: errorMessage(e) }, 'cleanup failed; the leftovers go when the agent registers again');
          return;
        }
        await this.deps.clock.sleep(CLEANUP_RETRY_PAUSE_MS, this.abort.signal).catch(() => undefined);
      }
    }
  }

  private async remove(op: OperationRecord, host: string, ownsNode: boolean): Promise<void> {
    const { store, pool, queue, clock, logger, settings } = this.deps;
    const log = logger.child({ op: op.id, node: op.node, host, kind: op.kind });
    try {
      // Recorded (etcd: committed under this leader's term) before anything acts on it.
      await store.durable();
      const node = store.node(op.node);
      const phaseDeps = { clock, timeouts: settings.phaseTimeouts, onPhase: this.observer(op, 'coordinator').onPhase, signal: this.abort.signal };
      if (op.kind === 'drain' && ownsNode && node && this.deps.grid.drain) await runTimedPhase('DRN', node, op.id, this.deps.grid.drain, phaseDeps);
      if (ownsNode) store.updateNode(op.node, { state: 'removing' });
      // A forced removal (no drain) still takes the node out of the batch system, and
      // before its VM goes: no job is sent to a dying VM, and its batch daemon, told to
      // stop while it can, closes its connection (SGE's qmaster keeps a dead execd's
      // connection and refuses the next VM given the same name until it times out).
      if (ownsNode && op.kind === 'remove') await this.deps.grid.forget?.(op.node);
      await queue.slots.acquire(host, op.id);
      const client = this.deps.clients.get(host);
      await runRemoveAttempt(client, op.id, op.node, settings.shutdownTimeoutMs, this.observer(op, host), settings.phaseTimeouts);
      const done = store.transaction(() => {
        if (ownsNode) {
          store.endUsage(op.node, { endMs: clock.nowMs(), status: op.kind === 'drain' ? 'drained' : 'removed', endOperationId: op.id });
          pool.release(op.node);
        }
        return store.updateOperation(op.id, { state: 'succeeded', finishedMs: clock.nowMs() })!;
      });
      log.info('node removed');
      queue.publish(done);
      this.deps.listener?.onFinished?.(done);
    } catch (e) {
      if (this.abort.signal.aborted) return;
      // Removal must end with nothing left: keep it queued until the agent can do it, after a pause.
      queue.slots.release(host, op.id);
      await clock.sleep(REMOVAL_RETRY_PAUSE_MS, this.abort.signal).catch(() => undefined);
      const waiting = store.updateOperation(op.id, { state: 'queued', error: `will retry: ${attemptError(host, e)}` })!;
      log.warn({ err: errorMessage(e) }, 'removal failed; queued again');
      queue.publish(waiting);
    } finally {
      queue.finished(op.id);
    }
  }
}
