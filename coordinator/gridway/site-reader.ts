import { Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { hostname } from 'node:os';
import { Phase } from '../../shared/gen/vonode/v1/common.js';
import type { CoordinatorEvent, Host, ListHostsResponse, ListNodesResponse, Node, PolicyResponse, ReportVisibilityResponse } from '../../shared/gen/vonode/v1/coordinator.js';
import { CoordinatorCallError, CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { unaryCall } from '../../shared/rpc/grpc-call.js';

/** What the MAD reads from the coordinator; the real one is CoordinatorSiteReader, tests may fake it. */
export interface SiteReader {
  /** Every leased node. Rejects (CoordinatorCallError in the real reader) after `timeoutMs`. */
  listNodes(timeoutMs: number): Promise<Node[]>;
  /** Every registered physical host with its facts. Rejects like listNodes. */
  listHosts(timeoutMs: number): Promise<Host[]>;
  /** The policy text in force. Rejects like listNodes. */
  policyText(timeoutMs: number): Promise<string>;
  /** Follows every site event until `signal` aborts or the stream breaks (then it throws). */
  watchEvents(signal: AbortSignal): AsyncIterable<CoordinatorEvent>;
  /** Tells the coordinator gwd has been told about these nodes (ends their GW phase). Rejects like listNodes. */
  reportShown(hostnames: readonly string[], timeoutMs: number): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/**
 * grpc-js channel options of the MAD: a short reconnect backoff, so that
 * after a coordinator restart the first requests succeed within ~2 s instead
 * of waiting out grpc's default (up to 120 s).
 */
export const MAD_CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 } as const;

type Callback<T> = (err: ServiceError | null, res?: T) => void;

/**
 * The SiteReader over CoordinatorService. Connects lazily (at the first
 * call), so constructing it never fails for a coordinator that is down; each
 * unary call carries a gRPC deadline, so it always settles.
 */
export class CoordinatorSiteReader implements SiteReader {
  private readonly client: CoordinatorClient;

  /** `creds` come from resolveConnection/connectionCredentials (mutual TLS unless --insecure). */
  constructor(address: string, creds: ChannelCredentials) {
    this.client = new CoordinatorClient(address, creds, MAD_CHANNEL_OPTIONS);
  }

  /** ListNodes with a deadline. Throws CoordinatorCallError. */
  async listNodes(timeoutMs: number): Promise<Node[]> {
    const res = await this.call<ListNodesResponse>('ListNodes', timeoutMs, (md, opts, cb) => this.client.raw.listNodes({ vo: '' }, md, opts, cb));
    return res.nodes;
  }

  /** ListHosts with a deadline. Throws CoordinatorCallError. */
  async listHosts(timeoutMs: number): Promise<Host[]> {
    const res = await this.call<ListHostsResponse>('ListHosts', timeoutMs, (md, opts, cb) => this.client.raw.listHosts({}, md, opts, cb));
    return res.hosts;
  }

  /** GetPolicy with a deadline; the YAML text in force. Throws CoordinatorCallError. */
  async policyText(timeoutMs: number): Promise<string> {
    const res = await this.call<PolicyResponse>('GetPolicy', timeoutMs, (md, opts, cb) => this.client.raw.getPolicy({}, md, opts, cb));
    return res.yaml;
  }

  /** WatchEvents; throws CoordinatorCallError when the stream breaks. */
  watchEvents(signal: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return this.client.watchEvents(signal);
  }

  /** ReportVisibility (GW) with a deadline. Throws CoordinatorCallError. */
  async reportShown(hostnames: readonly string[], timeoutMs: number): Promise<void> {
    const reporter = `vonode-gw-im-mad@${hostname()}`;
    await this.call<ReportVisibilityResponse>('ReportVisibility', timeoutMs, (md, opts, cb) =>
      this.client.raw.reportVisibility({ phase: Phase.PHASE_GW, hostnames: [...hostnames], reporter }, md, opts, cb));
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }

  private call<T>(method: string, timeoutMs: number, start: (md: Metadata, opts: { deadline: number }, cb: Callback<T>) => unknown): Promise<T> {
    return unaryCall(CoordinatorCallError, method, (cb: Callback<T>) => start(new Metadata(), { deadline: Date.now() + timeoutMs }, cb));
  }
}
