import { Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import {
  AgentServiceClient,
  type DeployEvent,
  type DeployRequest,
  type HostFactsResponse,
  type ListDomainsResponse,
  type ListImagesResponse,
  type PrefetchImageRequest,
  type PrefetchProgress,
  type RemoveRequest,
} from '../gen/vonode/v1/agent.js';
import { RpcCallError, streamCall, unaryCall } from './grpc-call.js';

/** A gRPC error from the agent, with its status code and the agent's message. */
export class AgentCallError extends RpcCallError {}

/** Type guard for AgentCallError. */
export function isAgentCallError(err: unknown): err is AgentCallError {
  return err instanceof AgentCallError;
}

/** Typed promise/async-iterator client of vonode.v1.AgentService. */
export class AgentClient {
  readonly raw: AgentServiceClient;

  /** `term` gives the coordinator's leadership term sent with every Deploy and Remove (0 without HA). */
  constructor(address: string, creds: ChannelCredentials, private readonly term: () => number = () => 0) {
    this.raw = new AgentServiceClient(address, creds);
  }

  /** Streams a deployment's events; the iterator throws AgentCallError if the agent fails it. */
  deploy(request: Partial<DeployRequest>, signal?: AbortSignal): AsyncIterable<DeployEvent> {
    const call = this.raw.deploy({ operationId: '', allowParallel: false, vm: undefined, coordinatorTerm: this.term(), ...request }, new Metadata());
    return streamCall(AgentCallError, 'Deploy', call, signal);
  }

  /** Streams a removal's events. */
  remove(request: Partial<RemoveRequest>, signal?: AbortSignal): AsyncIterable<DeployEvent> {
    const call = this.raw.remove({ operationId: '', hostname: '', shutdownTimeoutS: 0, coordinatorTerm: this.term(), ...request }, new Metadata());
    return streamCall(AgentCallError, 'Remove', call, signal);
  }

  /** Warms the agent's image cache; streams progress. The iterator throws AgentCallError if the agent fails it. */
  prefetchImage(request: PrefetchImageRequest, signal?: AbortSignal): AsyncIterable<PrefetchProgress> {
    return streamCall(AgentCallError, 'PrefetchImage', this.raw.prefetchImage(request, new Metadata()), signal);
  }

  /** Lists domains. Throws AgentCallError. */
  listDomains(): Promise<ListDomainsResponse> {
    return unaryCall(AgentCallError, 'ListDomains', (cb) => this.raw.listDomains({}, cb));
  }

  /** Host facts. Throws AgentCallError. */
  hostFacts(): Promise<HostFactsResponse> {
    return unaryCall(AgentCallError, 'HostFacts', (cb) => this.raw.hostFacts({}, cb));
  }

  /** Cached images. Throws AgentCallError. */
  listImages(): Promise<ListImagesResponse> {
    return unaryCall(AgentCallError, 'ListImages', (cb) => this.raw.listImages({}, cb));
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
