import { setMaxListeners } from 'node:events';
import { systemClock } from '../../../shared/clock.js';
import { errorMessage } from '../../../shared/errors.js';
import { HostState, OperationState, type CoordinatorEvent, type Host } from '../../../shared/gen/vonode/v1/coordinator.js';
import type { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { EventSubscription } from './event-subscription.js';

const now = (): number => systemClock.monotonicMs();

/** Up and down host counts of a ListHosts answer, optionally among `names` only. */
export function hostCounts(hosts: Host[], names?: ReadonlySet<string>): { up: number; down: number; total: number } {
  const mine = names ? hosts.filter((h) => names.has(h.name)) : hosts;
  const up = mine.filter((h) => h.state === HostState.HOST_STATE_UP).length;
  return { up, down: mine.filter((h) => h.state === HostState.HOST_STATE_DOWN).length, total: mine.length };
}

/**
 * Polls ListHosts every `pollMs` until `done(hosts)` holds; resolves with the
 * time from `sinceMs` (monotonic) to the answer that satisfied it. Throws,
 * naming `what` and the last counts, when `signal` aborts first.
 */
export async function waitForHosts(
  client: CoordinatorClient, what: string, done: (hosts: Host[]) => boolean, sinceMs: number, signal: AbortSignal, pollMs = 100,
): Promise<number> {
  let last: Host[] = [];
  for (;;) {
    const sent = now();
    try {
      last = (await untilAborted(client.listHosts(), signal)).hosts;
      if (done(last)) return now() - sinceMs;
    } catch (e) {
      if (signal.aborted) break;
      process.stderr.write(`  ListHosts failed (${errorMessage(e)}); polling on\n`);
    }
    if (signal.aborted) break;
    await systemClock.sleep(Math.max(0, pollMs - (now() - sent)), signal).catch(() => undefined);
  }
  const c = hostCounts(last);
  throw new Error(`${what}: gave up after ${((now() - sinceMs) / 1000).toFixed(1)} s (${c.up} up, ${c.down} down of ${c.total} hosts)`);
}

/** Settles like `p`, or rejects with the signal's reason once it aborts. */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/** Rejects with an Error naming `what` if `p` has not settled within `ms`. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A WatchEvents subscriber counting the site's events (the CLI's `vonode events`). */
export class EventCounter extends EventSubscription {
  total = 0;
  /** Operation events with state SUCCEEDED (progress of deployments and removals). */
  succeeded = 0;
  /** When (monotonic ms) each host-UP event arrived: the coordinator's side of registration. */
  readonly hostUpAt: number[] = [];
  /** When (monotonic ms) each host-DOWN event arrived. */
  readonly hostDownAt: number[] = [];
  readonly byKind: Record<string, number> = {};
  protected onEvent(e: CoordinatorEvent): void {
    this.total++;
    const kind = e.event?.$case ?? 'none';
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
    if (e.event?.$case === 'operation' && e.event.value.state === OperationState.OPERATION_STATE_SUCCEEDED) this.succeeded++;
    if (e.event?.$case === 'host' && e.event.value.state === HostState.HOST_STATE_UP) this.hostUpAt.push(now());
    if (e.event?.$case === 'host' && e.event.value.state === HostState.HOST_STATE_DOWN) this.hostDownAt.push(now());
  }
}

/** Outcome of operations followed through a DeployNodes/RemoveNode stream. */
export interface FollowResult {
  succeeded: number;
  failed: number;
  /** Operations whose stream ended (or was abandoned) without a final state. */
  unfinished: number;
  errors: string[];
  ms: number;
}

/** Consumes one operation stream, counting final operation states; never throws (errors are counted). */
async function follow(stream: AsyncIterable<CoordinatorEvent>, expected: number): Promise<Omit<FollowResult, 'ms'>> {
  const final = new Map<string, number>();
  const errors: string[] = [];
  try {
    for await (const e of stream) {
      if (e.event?.$case !== 'operation') continue;
      const op = e.event.value;
      if (op.state === OperationState.OPERATION_STATE_SUCCEEDED || op.state === OperationState.OPERATION_STATE_FAILED) {
        final.set(op.id, op.state);
        if (op.state === OperationState.OPERATION_STATE_FAILED && errors.length < 5) errors.push(`${op.node}: ${op.error}`);
      }
    }
  } catch (e) {
    errors.push(errorMessage(e));
  }
  const succeeded = [...final.values()].filter((s) => s === OperationState.OPERATION_STATE_SUCCEEDED).length;
  const failed = final.size - succeeded;
  return { succeeded, failed, unfinished: Math.max(0, expected - final.size), errors };
}

/** One DeployNodes request. */
export interface DeployBatch {
  vo: string;
  count: number;
}

/** Sends every batch at once through DeployNodes and follows each stream to its end (or `signal`). */
export async function deployBatches(client: CoordinatorClient, batches: DeployBatch[], signal: AbortSignal): Promise<Array<FollowResult & DeployBatch>> {
  const t0 = now();
  setMaxListeners(0, signal); // one abort listener per open stream
  return Promise.all(batches.map(async (b) => ({ ...b, ...(await follow(client.deployNodes({ vo: b.vo, count: b.count }, signal), b.count)), ms: now() - t0 })));
}

/** RemoveNode for every hostname, at most `concurrency` streams at a time, each followed to its end (or `signal`). */
export async function removeNodes(client: CoordinatorClient, hostnames: string[], concurrency: number, signal: AbortSignal): Promise<FollowResult> {
  const t0 = now();
  setMaxListeners(0, signal); // one abort listener per open stream
  const total: FollowResult = { succeeded: 0, failed: 0, unfinished: 0, errors: [], ms: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < hostnames.length && !signal.aborted) {
      const r = await follow(client.removeNode(hostnames[next++]!, signal), 1);
      total.succeeded += r.succeeded;
      total.failed += r.failed;
      total.unfinished += r.unfinished;
      if (total.errors.length < 5) total.errors.push(...r.errors.slice(0, 5 - total.errors.length));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  total.unfinished += hostnames.length - next;
  total.ms = now() - t0;
  return total;
}
