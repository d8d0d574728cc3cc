import { status, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../clock.js';
import type {
  AccountingRequest,
  AccountingResponse,
  CoordinatorEvent,
  DeployNodesRequest,
  HeartbeatRequest,
  HeartbeatResponse,
  ListHostsResponse,
  ListNodesResponse,
  PolicyResponse,
  RegisterAgentRequest,
  RegisterAgentResponse,
  ReportVisibilityRequest,
  ReportVisibilityResponse,
  StatusResponse,
  TimingsResponse,
} from '../gen/vonode/v1/coordinator.js';
import { CoordinatorCallError, CoordinatorClient, type CoordinatorApi } from './coordinator-client.js';
import { CoordinatorFailover, type FailoverRouter } from './coordinator-failover.js';

/** Most addresses one client keeps: the configured ones plus leaders named on the way (a bound against a confused coordinator). */
const MAX_ADDRESSES = 32;

/** Why calls moved from one coordinator to another (for a log line). */
export interface CoordinatorMove {
  method: string;
  from: string;
  to: string;
  /** The refusal or transport error that made the call move. */
  reason: string;
  /** Whether `from` named `to` as the leader (otherwise `to` is just the next address). */
  named: boolean;
}

/** Options of FollowingCoordinatorClient; every field has a default. */
export interface FollowingCoordinatorOptions {
  /** grpc-js channel options of each address's channel (default none). */
  channelOptions?: Partial<ChannelOptions>;
  /** Wait before trying an address again in the same call: doubles from `initial` up to `max`. Default 100 ms → 1 s. */
  backoffMs?: { initial: number; max: number };
  /** Default: the real clock. */
  clock?: Clock;
  /** Told whenever calls move to another address (e.g. to log the new leader). */
  onMove?: (move: CoordinatorMove) => void;
}

/**
 * A CoordinatorApi over every coordinator of a site (HA on etcd: one leader,
 * the others standbys) that follows the leader. Calls go to one address at a
 * time, the last that answered. A call failing with UNAVAILABLE moves to the
 * leader the refusal named (added to the list when it is not in it) or else
 * to the next address, and is tried again there: at once at an address not
 * yet tried in this call, after a short capped backoff at one already tried.
 * A call ends after at most two passes over the list plus the named leader,
 * or when its own deadline would pass; any other error comes back at once.
 * Streams move only while no message has arrived (after one, the error is the
 * caller's, as with one address). Reads a standby answers are kept: a
 * success never redirects. With a single address, a call is retried only at
 * a leader that address names: otherwise it behaves as CoordinatorClient.
 */
export class FollowingCoordinatorClient implements CoordinatorApi {
  private readonly addresses: string[];
  private readonly clients = new Map<string, CoordinatorClient>();
  private readonly clock: Clock;
  private readonly backoff: { initial: number; max: number };
  private readonly closing = new AbortController();
  private current = 0;

  /** Throws if `addresses` is empty. `creds` serve every address (one site CA signs every coordinator's certificate). */
  constructor(
    addresses: readonly string[],
    private readonly creds: ChannelCredentials,
    private readonly options: FollowingCoordinatorOptions = {},
  ) {
    this.addresses = [...new Set(addresses)];
    if (this.addresses.length === 0) throw new Error('FollowingCoordinatorClient needs at least one coordinator address');
    this.clock = options.clock ?? systemClock;
    this.backoff = options.backoffMs ?? { initial: 100, max: 1000 };
  }

  /** The address calls go to now: the last that answered, or where the last refusal pointed. */
  get address(): string {
    return this.addresses[this.current]!;
  }

  /** Every address known: the configured ones, then leaders named that were not among them. */
  get known(): readonly string[] {
    return this.addresses;
  }

  /** RegisterAgent (a write), following the leader. Throws CoordinatorCallError. */
  registerAgent(request: RegisterAgentRequest, deadlineMs?: number): Promise<RegisterAgentResponse> {
    return this.unary('RegisterAgent', deadlineMs, (c, d) => c.registerAgent(request, d));
  }

  /** Heartbeat (a write), following the leader. Throws CoordinatorCallError. */
  heartbeat(request: HeartbeatRequest, deadlineMs?: number): Promise<HeartbeatResponse> {
    return this.unary('Heartbeat', deadlineMs, (c, d) => c.heartbeat(request, d));
  }

  /** Site summary (any coordinator answers it). Throws CoordinatorCallError. */
  status(deadlineMs?: number): Promise<StatusResponse> {
    return this.unary('Status', deadlineMs, (c, d) => c.status(d));
  }

  /** Physical hosts and their agents. Throws CoordinatorCallError. */
  listHosts(deadlineMs?: number): Promise<ListHostsResponse> {
    return this.unary('ListHosts', deadlineMs, (c, d) => c.listHosts(d));
  }

  /** Virtual worker nodes, optionally of one VO. Throws CoordinatorCallError. */
  listNodes(vo = '', deadlineMs?: number): Promise<ListNodesResponse> {
    return this.unary('ListNodes', deadlineMs, (c, d) => c.listNodes(vo, d));
  }

  /** Per-operation phase durations. Throws CoordinatorCallError. */
  timings(limit = 0, deadlineMs?: number): Promise<TimingsResponse> {
    return this.unary('Timings', deadlineMs, (c, d) => c.timings(limit, d));
  }

  /** Usage records of a period (any coordinator answers it). Throws CoordinatorCallError. */
  accounting(request: AccountingRequest, deadlineMs?: number): Promise<AccountingResponse> {
    return this.unary('Accounting', deadlineMs, (c, d) => c.accounting(request, d));
  }

  /** The policy in force. Throws CoordinatorCallError. */
  getPolicy(deadlineMs?: number): Promise<PolicyResponse> {
    return this.unary('GetPolicy', deadlineMs, (c, d) => c.getPolicy(d));
  }

  /** Applies a policy (a write), following the leader. Throws CoordinatorCallError. */
  applyPolicy(yaml: string, deadlineMs?: number): Promise<PolicyResponse> {
    return this.unary('ApplyPolicy', deadlineMs, (c, d) => c.applyPolicy(yaml, d));
  }

  /** ReportVisibility (a write), following the leader. Throws CoordinatorCallError. */
  reportVisibility(request: ReportVisibilityRequest, deadlineMs?: number): Promise<ReportVisibilityResponse> {
    return this.unary('ReportVisibility', deadlineMs, (c, d) => c.reportVisibility(request, d));
  }

  /** DeployNodes, moved to the leader while nothing has arrived. The iterator throws CoordinatorCallError. */
  deployNodes(request: Partial<DeployNodesRequest>, signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return this.stream('DeployNodes', signal, (c) => c.deployNodes(request, signal));
  }

  /** DrainNode, moved like deployNodes. */
  drainNode(hostname: string, signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return this.stream('DrainNode', signal, (c) => c.drainNode(hostname, signal));
  }

  /** RemoveNode, moved like deployNodes. */
  removeNode(hostname: string, signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return this.stream('RemoveNode', signal, (c) => c.removeNode(hostname, signal));
  }

  /** WatchEvents (any coordinator serves it), moved while nothing has arrived. */
  watchEvents(signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return this.stream('WatchEvents', signal, (c) => c.watchEvents(signal));
  }

  /** Resolves once any known coordinator's channel is connected; rejects with the first failure after timeoutMs. */
  async waitReady(timeoutMs: number): Promise<void> {
    try {
      await Promise.any(this.addresses.map((a) => this.clientOf(a).waitReady(timeoutMs)));
    } catch (err) {
      throw err instanceof AggregateError ? err.errors[0] : err;
    }
  }

  /** Closes every channel; calls waiting to be tried again fail with their last error. */
  close(): void {
    this.closing.abort(new Error('coordinator client closed'));
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private async unary<T>(method: string, deadlineMs: number | undefined, call: (c: CoordinatorClient, deadlineMs?: number) => Promise<T>): Promise<T> {
    const failover = this.failover(method, deadlineMs);
    for (;;) {
      const address = this.address;
      try {
        return await call(this.clientOf(address), failover.remainingMs());
      } catch (err) {
        await this.pause(failover, err, address);
      }
    }
  }

  private async *stream(method: string, signal: AbortSignal | undefined, open: (c: CoordinatorClient) => AsyncIterable<CoordinatorEvent>): AsyncGenerator<CoordinatorEvent> {
    const failover = this.failover(method, undefined, signal);
    for (;;) {
      const address = this.address;
      let received = false;
      try {
        for await (const event of open(this.clientOf(address))) {
          received = true;
          yield event;
        }
        return;
      } catch (err) {
        // Once events have arrived the operation runs there: starting it again elsewhere could do it twice.
        if (received) throw err;
        await this.pause(failover, err, address);
      }
    }
  }

  /** After a failed attempt: moves on and waits, or throws what the caller should see. */
  private async pause(failover: CoordinatorFailover, err: unknown, address: string): Promise<void> {
    const waitMs = failover.next(err, address);
    if (waitMs === undefined) throw failover.failure(err);
    if (waitMs === 0) return;
    const signal = failover.signal ? AbortSignal.any([failover.signal, this.closing.signal]) : this.closing.signal;
    try {
      await this.clock.sleep(waitMs, signal);
    } catch {
      if (failover.signal?.aborted) throw new CoordinatorCallError(failover.method, status.CANCELLED, 'Cancelled on client', { cause: err });
      throw failover.failure(err);
    }
  }

  private failover(method: string, deadlineMs: number | undefined, signal?: AbortSignal): CoordinatorFailover {
    const router: FailoverRouter = {
      known: () => this.addresses,
      closed: () => this.closing.signal.aborted,
      followLeader: (from, leader, reason) => this.followLeader(method, from, leader, reason),
      moveOn: (from, reason) => this.moveOn(method, from, reason),
    };
    return new CoordinatorFailover(router, method, this.clock, this.backoff, deadlineMs, signal);
  }

  /** Points calls at `leader`, adding it to the list. Returns false if it cannot be added. */
  private followLeader(method: string, from: string, leader: string, reason: string): boolean {
    let index = this.addresses.indexOf(leader);
    if (index < 0) {
      if (this.addresses.length >= MAX_ADDRESSES) return false;
      index = this.addresses.push(leader) - 1;
    }
    if (index !== this.current) this.options.onMove?.({ method, from, to: leader, reason, named: true });
    this.current = index;
    return true;
  }

  /** Moves calls from `from` to the address after it, unless another call has moved them already; returns where they go now. */
  private moveOn(method: string, from: string, reason: string): string {
    if (this.address === from) {
      this.current = (this.addresses.indexOf(from) + 1) % this.addresses.length;
      this.options.onMove?.({ method, from, to: this.address, reason, named: false });
    }
    return this.address;
  }

  private clientOf(address: string): CoordinatorClient {
    // As grpc-js says of a closed client; no channel is opened again after close().
    if (this.closing.signal.aborted) throw new Error('Channel has been shut down');
    let client = this.clients.get(address);
    if (!client) {
      client = new CoordinatorClient(address, this.creds, this.options.channelOptions);
      this.clients.set(address, client);
    }
    return client;
  }
}
