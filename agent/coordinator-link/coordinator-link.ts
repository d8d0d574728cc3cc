import { status } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../shared/clock.js';
import { DeadlineError } from '../../shared/errors.js';
import type { HostFactsResponse } from '../../shared/gen/vonode/v1/agent.js';
import type { Domain } from '../../shared/gen/vonode/v1/common.js';
import type { Logger } from '../../shared/logger.js';
import type { CoordinatorApi } from '../../shared/rpc/coordinator-client.js';
import { RpcCallError } from '../../shared/rpc/grpc-call.js';

/**
 * Lifecycle of the link: created → registering (RegisterAgent, retried with
 * capped backoff) → registered (heartbeating) → back to registering when the
 * coordinator has forgotten the agent; stopping → stopped on shutdown.
 */
export type CoordinatorLinkState = 'created' | 'registering' | 'registered' | 'stopping' | 'stopped';

/** Options of the link; `clock` defaults to the real one. */
export interface CoordinatorLinkOptions {
  /** A CoordinatorClient, or with several coordinators a FollowingCoordinatorClient (it finds the leader). */
  client: Pick<CoordinatorApi, 'registerAgent' | 'heartbeat'>;
  /** This physical host's name, unique per site. */
  hostName: string;
  /** Where the coordinator reaches this agent's AgentService. */
  advertiseAddress: string;
  /** Fresh host facts (same as AgentService.HostFacts); called for every registration and heartbeat. */
  facts(): Promise<HostFactsResponse>;
  /** The domains this agent runs (same as AgentService.ListDomains); sent when registering. */
  domains(): Promise<Domain[]>;
  logger: Logger;
  clock?: Clock;
  /** Backoff between failed registrations: doubles from `initial` up to `max`. Default 250 ms → 5 s. */
  retryBackoffMs?: { initial: number; max: number };
  /** Longest wait for one Heartbeat answer. Default 10 s. */
  callTimeoutMs?: number;
  /**
   * Longest wait for one RegisterAgent answer. Default 30 s: after a site-wide restart thousands
   * of agents register at once, and a registration given up on is done again from the start
   * (measured with 2,000 agents: 10 s made 1,200 of them time out and retry).
   */
  registerTimeoutMs?: number;
  /** Aborting it shuts the link down. */
  signal?: AbortSignal;
  /**
   * Told the coordinator_term of every RegisterAgent and Heartbeat answer (0 from a coordinator
   * without HA), before the link goes on; the agent raises its CoordinatorTermFence with it.
   * A rejection is logged and the link goes on.
   */
  onCoordinatorTerm?: (term: number) => void | Promise<void>;
}

/** Heartbeat interval used when the coordinator answers 0. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;
/** Shortest wait for a heartbeat answer (a loaded coordinator may take this long to answer a live agent). */
const MIN_HEARTBEAT_DEADLINE_MS = 2000;
// Floor on the coordinator's interval, so a bad answer cannot spin the loop.
const MIN_HEARTBEAT_INTERVAL_MS = 10;

/**
 * grpc-js channel options for the agent's coordinator channel. grpc-js backs
 * off reconnects up to 120 s by default, which would leave an agent
 * unregistered for minutes after the coordinator comes back.
 */
export const COORDINATOR_CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 5000 } as const;

/**
 * The agent's side of the coordinator protocol: RegisterAgent (retried while
 * the coordinator is unreachable), then Heartbeat with fresh facts every
 * `heartbeatIntervalMs` the coordinator chose; registers again when the
 * coordinator answers `reregister` or NOT_FOUND (it restarted or forgot the
 * agent). A failure is logged once when it starts (or changes kind), not on
 * every retry, and once more when the coordinator answers again.
 */
export class CoordinatorLink {
  /** Where the link is in its lifecycle. */
  state: CoordinatorLinkState = 'created';
  /** Interval the coordinator asked for at the last registration (0 before the first). */
  heartbeatIntervalMs = 0;
  /** Site name from the last registration. */
  site = '';
  /** Successful registrations so far. */
  registrations = 0;
  private readonly abort = new AbortController();
  private readonly clock: Clock;
  private readonly backoff: { initial: number; max: number };
  private loop: Promise<void> | undefined;
  /** Kind (method and code) of the failure in progress, already logged. */
  private failing: string | undefined;

  constructor(private readonly options: CoordinatorLinkOptions) {
    this.clock = options.clock ?? systemClock;
    this.backoff = options.retryBackoffMs ?? { initial: 250, max: 5000 };
    options.signal?.addEventListener('abort', () => void this.shutdown(), { once: true });
  }

  /** Starts registering in the background; returns at once (the agent serves whether or not the coordinator is up). Throws if already started. */
  start(): void {
    if (this.state !== 'created') throw new Error(`coordinator link cannot start: it is ${this.state}`);
    this.loop = this.run(this.abort.signal);
  }

  /** Stops registering and heartbeating, abandoning any call in flight. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    this.abort.abort(new Error('coordinator link shut down'));
    await this.loop;
    this.state = 'stopped';
  }

  private async run(signal: AbortSignal): Promise<void> {
    try {
      for (;;) {
        await this.register(signal);
        await this.heartbeat(signal);
      }
    } catch (err) {
      // Only an abort ends the loop; anything else is a bug worth seeing.
      if (!signal.aborted) this.options.logger.error({ err }, 'coordinator link stopped unexpectedly');
    }
  }

  /** Registers, retrying with capped backoff until it succeeds or the link is shut down. */
  private async register(signal: AbortSignal): Promise<void> {
    const { client, hostName, advertiseAddress, logger } = this.options;
    this.setState('registering');
    let delay = this.backoff.initial;
    for (;;) {
      try {
        const [facts, domains] = await Promise.all([this.options.facts(), this.options.domains()]);
        const res = await this.call('RegisterAgent', (deadlineMs) => client.registerAgent({ hostName, address: advertiseAddress, facts, domains }, deadlineMs), signal, this.options.registerTimeoutMs ?? 30_000);
        this.answered();
        await this.termSeen(res.coordinatorTerm);
        this.heartbeatIntervalMs = Math.max(MIN_HEARTBEAT_INTERVAL_MS, res.heartbeatIntervalMs || DEFAULT_HEARTBEAT_INTERVAL_MS);
        this.site = res.site;
        this.registrations++;
        this.setState('registered');
        logger.info({ site: res.site, heartbeatIntervalMs: this.heartbeatIntervalMs, domains: domains.length }, 'registered with the coordinator');
        return;
      } catch (err) {
        signal.throwIfAborted();
        this.failed('RegisterAgent', err);
        // A standby named the leader (a failover is under way; the client has gone there): keep trying
        // soon rather than back off to the maximum while the new leader settles.
        if (err instanceof RpcCallError && err.leader) delay = this.backoff.initial;
        await this.clock.sleep(delay, signal);
        delay = Math.min(delay * 2, this.backoff.max);
      }
    }
  }

  /** Heartbeats on the interval (start to start) until the coordinator wants a new registration. */
  private async heartbeat(signal: AbortSignal): Promise<void> {
    const { client, hostName, logger } = this.options;
    const interval = this.heartbeatIntervalMs;
    let next = this.clock.monotonicMs() + interval;
    for (;;) {
      await this.clock.sleep(Math.max(0, next - this.clock.monotonicMs()), signal);
      // After a stall (slow call), resume the rhythm rather than burst to catch up.
      next = Math.max(next + interval, this.clock.monotonicMs());
      try {
        const facts = await this.options.facts();
        // A heartbeat not answered within a few intervals has missed its point: a coordinator that holds it
        // (stopped, partitioned) is left for the next one (the client then starts at another coordinator).
        const deadline = Math.min(this.options.callTimeoutMs ?? 10_000, Math.max(MIN_HEARTBEAT_DEADLINE_MS, 3 * this.heartbeatIntervalMs));
        const res = await this.call('Heartbeat', (deadlineMs) => client.heartbeat({ hostName, facts }, deadlineMs), signal, deadline);
        this.answered();
        await this.termSeen(res.coordinatorTerm);
        if (res.reregister) {
          logger.info('the coordinator asked this agent to register again');
          return;
        }
      } catch (err) {
        signal.throwIfAborted();
        if (err instanceof RpcCallError && err.code === status.NOT_FOUND) {
          logger.info({ err: err.details }, 'the coordinator does not know this agent (NOT_FOUND): registering again');
          return;
        }
        this.failed('Heartbeat', err);
      }
    }
  }

  /**
   * One RPC, bounded by `timeoutMs` and abandoned on shutdown. The RPC gets the same time as a
   * gRPC deadline: a call given up on here is cancelled on the wire, so a coordinator that is slow
   * under a registration storm does not run it late and then see the retry as a second registration
   * (measured: 1,140 duplicate registrations of 2,000 agents without it).
   */
  private async call<T>(method: string, rpc: (deadlineMs: number) => Promise<T>, signal: AbortSignal, timeoutMs = this.options.callTimeoutMs ?? 10_000): Promise<T> {
    signal.throwIfAborted();
    const timer = new AbortController();
    const onAbort = (): void => timer.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        rpc(timeoutMs),
        this.clock.sleep(timeoutMs, timer.signal).then((): never => {
          throw new DeadlineError(`${method}: no answer from the coordinator within ${timeoutMs} ms`);
        }),
      ]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      timer.abort();
    }
  }

  /** Passes an answer's coordinator term on; a failure to keep it is logged, not fatal to the link. */
  private async termSeen(term: number): Promise<void> {
    try {
      await this.options.onCoordinatorTerm?.(term);
    } catch (err) {
      this.options.logger.warn({ err, term }, 'could not record the coordinator term');
    }
  }

  private failed(method: string, err: unknown): void {
    const code = err instanceof RpcCallError ? err.code : undefined;
    const kind = `${method}:${code ?? (err instanceof Error ? err.name : 'error')}`;
    const log = { err, code, state: this.state };
    if (kind === this.failing) {
      this.options.logger.debug(log, `${method} failed again`);
      return;
    }
    this.failing = kind;
    const retry = method === 'RegisterAgent' ? `retrying with backoff up to ${this.backoff.max} ms` : `retrying every ${this.heartbeatIntervalMs} ms`;
    this.options.logger.warn(log, `${method} failed; ${retry} (further failures of this kind are logged at debug level)`);
  }

  private answered(): void {
    if (this.failing === undefined) return;
    this.options.logger.info({ after: this.failing }, 'the coordinator answers again');
    this.failing = undefined;
  }

  private setState(state: CoordinatorLinkState): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = state;
  }
}
