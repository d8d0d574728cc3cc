import { Metadata, type CallOptions, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import {
  CoordinatorServiceClient,
  type AccountingRequest,
  type AccountingResponse,
  type CoordinatorEvent,
  type DeployNodesRequest,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type ListHostsResponse,
  type ListNodesResponse,
  type PolicyResponse,
  type RegisterAgentRequest,
  type RegisterAgentResponse,
  type ReportVisibilityRequest,
  type ReportVisibilityResponse,
  type StatusResponse,
  type TimingsResponse,
} from '../gen/vonode/v1/coordinator.js';
import { RpcCallError, streamCall, unaryCall } from './grpc-call.js';

/** A gRPC error from the coordinator, with its status code and message. */
export class CoordinatorCallError extends RpcCallError {}

/** Type guard for CoordinatorCallError. */
export function isCoordinatorCallError(err: unknown): err is CoordinatorCallError {
  return err instanceof CoordinatorCallError;
}

/**
 * The calls of vonode.v1.CoordinatorService as agents, the CLI and the MAD
 * make them. CoordinatorClient (one address) and FollowingCoordinatorClient
 * (every coordinator of an HA site, following the leader) both implement it.
 * Unary calls take an optional gRPC deadline in ms (DEADLINE_EXCEEDED when it
 * passes); every call throws CoordinatorCallError.
 */
export interface CoordinatorApi {
  /** Where calls go now (for messages). */
  readonly address: string;
  registerAgent(request: RegisterAgentRequest, deadlineMs?: number): Promise<RegisterAgentResponse>;
  heartbeat(request: HeartbeatRequest, deadlineMs?: number): Promise<HeartbeatResponse>;
  status(deadlineMs?: number): Promise<StatusResponse>;
  listHosts(deadlineMs?: number): Promise<ListHostsResponse>;
  listNodes(vo?: string, deadlineMs?: number): Promise<ListNodesResponse>;
  timings(limit?: number, deadlineMs?: number): Promise<TimingsResponse>;
  accounting(request: AccountingRequest, deadlineMs?: number): Promise<AccountingResponse>;
  getPolicy(deadlineMs?: number): Promise<PolicyResponse>;
  applyPolicy(yaml: string, deadlineMs?: number): Promise<PolicyResponse>;
  reportVisibility(request: ReportVisibilityRequest, deadlineMs?: number): Promise<ReportVisibilityResponse>;
  deployNodes(request: Partial<DeployNodesRequest>, signal?: AbortSignal): AsyncIterable<CoordinatorEvent>;
  drainNode(hostname: string, signal?: AbortSignal): AsyncIterable<CoordinatorEvent>;
  removeNode(hostname: string, signal?: AbortSignal): AsyncIterable<CoordinatorEvent>;
  watchEvents(signal?: AbortSignal): AsyncIterable<CoordinatorEvent>;
  waitReady(timeoutMs: number): Promise<void>;
  close(): void;
}

/** Typed promise/async-iterator client of vonode.v1.CoordinatorService at one address (agents and the CLI use it). */
export class CoordinatorClient implements CoordinatorApi {
  readonly raw: CoordinatorServiceClient;

  /** `options` are grpc-js channel options (e.g. the agent caps the reconnect backoff). */
  constructor(
    readonly address: string,
    creds: ChannelCredentials,
    options?: Partial<ChannelOptions>,
  ) {
    this.raw = new CoordinatorServiceClient(address, creds, options);
  }

  /**
   * Registers an agent. With `deadlineMs` the call carries a gRPC deadline: when it passes, the call is
   * cancelled on the wire too (the coordinator drops it if it has not run it yet) and fails with
   * DEADLINE_EXCEEDED. Throws CoordinatorCallError.
   */
  registerAgent(request: RegisterAgentRequest, deadlineMs?: number): Promise<RegisterAgentResponse> {
    return unaryCall(CoordinatorCallError, 'RegisterAgent', (cb) => this.raw.registerAgent(request, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** One agent heartbeat, with an optional gRPC deadline as registerAgent. Throws CoordinatorCallError. */
  heartbeat(request: HeartbeatRequest, deadlineMs?: number): Promise<HeartbeatResponse> {
    return unaryCall(CoordinatorCallError, 'Heartbeat', (cb) => this.raw.heartbeat(request, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Site summary. */
  status(deadlineMs?: number): Promise<StatusResponse> {
    return unaryCall(CoordinatorCallError, 'Status', (cb) => this.raw.status({}, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Physical hosts and their agents. */
  listHosts(deadlineMs?: number): Promise<ListHostsResponse> {
    return unaryCall(CoordinatorCallError, 'ListHosts', (cb) => this.raw.listHosts({}, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Virtual worker nodes, optionally of one VO. */
  listNodes(vo = '', deadlineMs?: number): Promise<ListNodesResponse> {
    return unaryCall(CoordinatorCallError, 'ListNodes', (cb) => this.raw.listNodes({ vo }, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Per-operation phase durations, most recent `limit` (0 = all). */
  timings(limit = 0, deadlineMs?: number): Promise<TimingsResponse> {
    return unaryCall(CoordinatorCallError, 'Timings', (cb) => this.raw.timings({ limit }, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Usage records of the VMs whose life overlaps [since, until) (until 0 = now). */
  accounting(request: AccountingRequest, deadlineMs?: number): Promise<AccountingResponse> {
    return unaryCall(CoordinatorCallError, 'Accounting', (cb) => this.raw.accounting(request, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Current policy text and whether the file on disk was refused. */
  getPolicy(deadlineMs?: number): Promise<PolicyResponse> {
    return unaryCall(CoordinatorCallError, 'GetPolicy', (cb) => this.raw.getPolicy({}, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Validates and applies a new policy; INVALID_ARGUMENT lists every problem. */
  applyPolicy(yaml: string, deadlineMs?: number): Promise<PolicyResponse> {
    return unaryCall(CoordinatorCallError, 'ApplyPolicy', (cb) => this.raw.applyPolicy({ yaml }, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Tells the coordinator a grid service now shows these nodes (the GridWay MAD ends their GW phase with it). */
  reportVisibility(request: ReportVisibilityRequest, deadlineMs?: number): Promise<ReportVisibilityResponse> {
    return unaryCall(CoordinatorCallError, 'ReportVisibility', (cb) => this.raw.reportVisibility(request, new Metadata(), callOptions(deadlineMs), cb));
  }

  /** Queues deployments and streams their events until all have ended. */
  deployNodes(request: Partial<DeployNodesRequest>, signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return streamCall(CoordinatorCallError, 'DeployNodes', this.raw.deployNodes({ vo: '', count: 0, host: '', ...request }), signal);
  }

  /** Drains a node and streams events until it is removed. */
  drainNode(hostname: string, signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return streamCall(CoordinatorCallError, 'DrainNode', this.raw.drainNode({ hostname }), signal);
  }

  /** Removes a node at once (no drain) and streams the removal. */
  removeNode(hostname: string, signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return streamCall(CoordinatorCallError, 'RemoveNode', this.raw.removeNode({ hostname }), signal);
  }

  /** Follows every site event until aborted. */
  watchEvents(signal?: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return streamCall(CoordinatorCallError, 'WatchEvents', this.raw.watchEvents({}), signal);
  }

  /** Resolves once the channel is connected, or rejects after timeoutMs. */
  waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.raw.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve())));
  }

  /** Closes the channel. */
  close(): void {
    this.raw.close();
  }
}

function callOptions(deadlineMs: number | undefined): Partial<CallOptions> {
  return deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
}
