import type { ChannelCredentials } from '@grpc/grpc-js';
import { hostname } from 'node:os';
import { Phase } from '../../shared/gen/vonode/v1/common.js';
import type { CoordinatorEvent, Host, Node } from '../../shared/gen/vonode/v1/coordinator.js';
import { FollowingCoordinatorClient } from '../../shared/rpc/following-coordinator-client.js';

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
  /** Tells the coordinator gwd was told of these nodes (`discover_pushed`) or can schedule on them (`schedulable`, ends GW). */
  reportShown(hostnames: readonly string[], timeoutMs: number, moment?: 'schedulable' | 'discover_pushed'): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/**
 * grpc-js channel options of the MAD: a short reconnect backoff, so that
 * after a coordinator restart the first requests succeed within ~2 s instead
 * of waiting out grpc's default (up to 120 s).
 */
export const MAD_CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 } as const;

/**
 * The SiteReader over CoordinatorService, at one coordinator or at every
 * coordinator of an HA site (it follows the leader: a standby answers the
 * reads, ReportVisibility goes to the leader). Connects lazily (at the first
 * call), so constructing it never fails for a coordinator that is down; each
 * unary call carries a gRPC deadline, so it always settles.
 */
export class CoordinatorSiteReader implements SiteReader {
  private readonly client: FollowingCoordinatorClient;

  /** `addresses` from resolveConnection (connectionAddresses); `creds` from connectionCredentials (mutual TLS unless --insecure). */
  constructor(addresses: readonly string[], creds: ChannelCredentials) {
    this.client = new FollowingCoordinatorClient(addresses, creds, { channelOptions: MAD_CHANNEL_OPTIONS });
  }

  /** ListNodes with a deadline. Throws CoordinatorCallError. */
  async listNodes(timeoutMs: number): Promise<Node[]> {
    return (await this.client.listNodes('', timeoutMs)).nodes;
  }

  /** ListHosts with a deadline. Throws CoordinatorCallError. */
  async listHosts(timeoutMs: number): Promise<Host[]> {
    return (await this.client.listHosts(timeoutMs)).hosts;
  }

  /** GetPolicy with a deadline; the YAML text in force. Throws CoordinatorCallError. */
  async policyText(timeoutMs: number): Promise<string> {
    return (await this.client.getPolicy(timeoutMs)).yaml;
  }

  /** WatchEvents; throws CoordinatorCallError when the stream breaks. */
  watchEvents(signal: AbortSignal): AsyncIterable<CoordinatorEvent> {
    return this.client.watchEvents(signal);
  }

  /** ReportVisibility (GW) with a deadline, at the leader. Throws CoordinatorCallError. */
  async reportShown(hostnames: readonly string[], timeoutMs: number, moment: 'schedulable' | 'discover_pushed' = 'schedulable'): Promise<void> {
    const reporter = `vonode-gw-im-mad@${hostname()}`;
    await this.client.reportVisibility({ phase: Phase.PHASE_GW, hostnames: [...hostnames], reporter, moment }, timeoutMs);
  }

  /** Closes the channels. */
  close(): void {
    this.client.close();
  }
}
