import { Metadata, type ChannelCredentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import {
  AgentServiceClient,
  type DeployEvent,
  type DeployRequest,
  type HostFactsResponse,
  type ListDomainsResponse,
  type ListImagesResponse,
  type RemoveRequest,
} from '../gen/vonode/v1/agent.js';

/** A gRPC error from the agent, with its status code and the agent's message. */
export class AgentCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`${method}: ${details}`, options);
    this.name = 'AgentCallError';
  }
}

/** Type guard for AgentCallError. */
export function isAgentCallError(err: unknown): err is AgentCallError {
  return err instanceof AgentCallError;
}

function wrap(method: string, err: unknown): AgentCallError {
  const e = err as Partial<ServiceError>;
  return new AgentCallError(method, e.code ?? 2, e.details ?? String(err), { cause: err });
}

/** Typed promise/async-iterator client of vonode.v1.AgentService. */
export class AgentClient {
  readonly raw: AgentServiceClient;

  constructor(address: string, creds: ChannelCredentials) {
    this.raw = new AgentServiceClient(address, creds);
  }

  /** Streams a deployment's events; the iterator throws AgentCallError if the agent fails it. */
  deploy(request: Partial<DeployRequest>, signal?: AbortSignal): AsyncIterable<DeployEvent> {
    return this.stream('Deploy', this.raw.deploy({ operationId: '', allowParallel: false, vm: undefined, ...request }, new Metadata()), signal);
  }

  /** Streams a removal's events. */
  remove(request: Partial<RemoveRequest>, signal?: AbortSignal): AsyncIterable<DeployEvent> {
    return this.stream('Remove', this.raw.remove({ operationId: '', hostname: '', shutdownTimeoutS: 0, ...request }, new Metadata()), signal);
  }

  /** Lists domains. Throws AgentCallError. */
  listDomains(): Promise<ListDomainsResponse> {
    return this.unary('ListDomains', (cb) => this.raw.listDomains({}, cb));
  }

  /** Host facts. Throws AgentCallError. */
  hostFacts(): Promise<HostFactsResponse> {
    return this.unary('HostFacts', (cb) => this.raw.hostFacts({}, cb));
  }

  /** Cached images. Throws AgentCallError. */
  listImages(): Promise<ListImagesResponse> {
    return this.unary('ListImages', (cb) => this.raw.listImages({}, cb));
  }

  /** Resolves once the channel is connected, or rejects after timeoutMs. */
  waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.raw.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve())));
  }

  /** Closes the channel. */
  close(): void {
    this.raw.close();
  }

  private unary<T>(method: string, call: (cb: (err: ServiceError | null, res?: T) => void) => unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      call((err, res) => (err || res === undefined ? reject(wrap(method, err)) : resolve(res)));
    });
  }

  private async *stream(method: string, call: ClientReadableStream<DeployEvent>, signal?: AbortSignal): AsyncIterable<DeployEvent> {
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const event of call as AsyncIterable<DeployEvent>) yield event;
    } catch (err) {
      throw wrap(method, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
