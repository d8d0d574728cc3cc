import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type {
  AgentServiceServer,
  DeployEvent,
  DeployRequest,
  EvictImageRequest,
  EvictImageResponse,
  HostFactsRequest,
  HostFactsResponse,
  ListDomainsRequest,
  ListDomainsResponse,
  ListImagesRequest,
  ListImagesResponse,
  PrefetchImageRequest,
  PrefetchProgress,
  RemoveRequest,
} from '../../shared/gen/vonode/v1/agent.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { toServiceError } from '../../shared/rpc/server-errors.js';
import { phaseMarkToWire } from '../../shared/rpc/phase-codec.js';
import { validateIntRange, validateOperationId, validateSha256 } from '../../shared/validation.js';
import { validateAgentHostname, validateImageRef, validateVmSpec } from '../deploy/vm-spec.js';
import type { Deployer } from '../deploy/deployer.js';
import type { Remover } from '../deploy/remover.js';
import type { HostFactsSource } from '../host/host-facts.js';
import type { HypervisorDriver } from '../hypervisor/hypervisor-driver.js';
import type { ImageCache } from '../images/image-cache.js';
import type { TermAdmission } from '../state/coordinator-term.js';
import type { DomainStore } from '../state/domain-store.js';
import { readDomains, readHostFacts } from './host-report.js';
import { domainToWire, vmSpecFromWire } from './wire.js';

/** Everything the RPC edge delegates to. */
export interface AgentServiceDeps {
  deployer: Deployer;
  remover: Remover;
  store: DomainStore;
  /** Refuses Deploy and Remove from a deposed coordinator leader (CoordinatorTermFence). */
  fence: TermAdmission;
  driver: HypervisorDriver;
  cache: ImageCache;
  facts: HostFactsSource;
  clock: Clock;
  logger: Logger;
  stateDir: string;
  budgetBytes: number;
  version: string;
}

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** Longest graceful shutdown a Remove may ask for (shutdown_timeout_s): an hour; a guest that needs more is stuck. */
const MAX_SHUTDOWN_TIMEOUT_S = 3600;

/**
 * vonode.v1.AgentService: converts wire messages to domain types (validating
 * them first), delegates, and maps errors to gRPC statuses.
 */
export function createAgentService(deps: AgentServiceDeps): AgentServiceServer {
  const unary =
    <Req, Res>(method: string, fn: (req: Req) => Promise<Res>): Handler<Req, Res> =>
    (call, callback) => {
      fn(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err, deps.logger, method)),
      );
    };

  const stream =
    <Req>(method: string, fn: (req: Req, write: (e: DeployEvent) => void, signal: AbortSignal) => Promise<void>) =>
    (call: ServerWritableStream<Req, DeployEvent>): void => {
      const abort = new AbortController();
      // An AbortError: the caller went away, which is no failure of the agent's (logged as such, not as an error).
      call.on('cancelled', () => abort.abort(new DOMException('caller cancelled', 'AbortError')));
      fn(call.request, (e) => call.write(e), abort.signal).then(
        () => call.end(),
        (err: unknown) => call.emit('error', toServiceError(err, deps.logger, method)),
      );
    };

  return {
    deploy: stream<DeployRequest>('Deploy', async (req, write, signal) => {
      const receivedAtMs = deps.clock.monotonicMs();
      const operationId = validateOperationId('operation_id', req.operationId);
      const spec = validateVmSpec(vmSpecFromWire(req.vm));
      // Before anything is done: a deposed leader's request is refused (FAILED_PRECONDITION).
      await deps.fence.admit(req.coordinatorTerm, `Deploy of ${spec.hostname}`);
      // Before any record, file or DHCP entry: an image from a source images.sources does not allow refuses the whole request.
      for (const image of [spec.disk, spec.kernel, spec.initrd]) if (image) deps.cache.checkSource(image.url);
      const record = await deps.deployer.deploy(
        { operationId, spec, allowParallel: req.allowParallel, receivedAtMs },
        (mark) => write({ event: { $case: 'phase', value: phaseMarkToWire(mark) } }),
        signal,
      );
      write({ event: { $case: 'done', value: domainToWire(record, 'running') } });
    }),

    remove: stream<RemoveRequest>('Remove', async (req, write) => {
      const receivedAtMs = deps.clock.monotonicMs();
      const operationId = validateOperationId('operation_id', req.operationId);
      const hostname = validateAgentHostname('hostname', req.hostname);
      const shutdownTimeoutS = validateIntRange('shutdown_timeout_s', req.shutdownTimeoutS, 0, MAX_SHUTDOWN_TIMEOUT_S);
      await deps.fence.admit(req.coordinatorTerm, `Remove of ${hostname}`);
      const outcome = await deps.remover.remove(
        { operationId, hostname, shutdownTimeoutMs: shutdownTimeoutS * 1000, receivedAtMs },
        (mark) => write({ event: { $case: 'phase', value: phaseMarkToWire(mark) } }),
      );
      write({ event: { $case: 'removed', value: { hostname, wasRunning: outcome.wasRunning, destroyed: outcome.destroyed } } });
    }),

    listDomains: unary<ListDomainsRequest, ListDomainsResponse>('ListDomains', async () => ({ domains: await readDomains(deps) })),

    hostFacts: unary<HostFactsRequest, HostFactsResponse>('HostFacts', () => readHostFacts(deps)),

    prefetchImage: (call: ServerWritableStream<PrefetchImageRequest, PrefetchProgress>): void => {
      const abort = new AbortController();
      // An AbortError: the caller went away, which is no failure of the agent's (logged as such, not as an error).
      call.on('cancelled', () => abort.abort(new DOMException('caller cancelled', 'AbortError')));
      const run = async (): Promise<void> => {
        const ref = validateImageRef('image', call.request.image);
        deps.cache.checkSource(ref.url);
        const result = await deps.cache.ensure(ref, {
          signal: abort.signal,
          onProgress: (done, total) => call.write({ bytesDone: done, bytesTotal: total, done: false, cacheHit: false }),
        });
        call.write({ bytesDone: result.bytesTransferred, bytesTotal: result.bytesTransferred, done: true, cacheHit: result.cacheHit });
      };
      run().then(
        () => call.end(),
        (err: unknown) => call.emit('error', toServiceError(err, deps.logger, 'PrefetchImage')),
      );
    },

    listImages: unary<ListImagesRequest, ListImagesResponse>('ListImages', async () => ({
      images: deps.cache.list().map((i) => ({
        sha256: i.sha256,
        sizeBytes: i.sizeBytes,
        lastUsedUnixMs: i.lastUsedMs,
        inUse: i.inUse,
        url: i.url,
      })),
      budgetBytes: deps.budgetBytes,
      usedBytes: deps.cache.usedBytes(),
    })),

    evictImage: unary<EvictImageRequest, EvictImageResponse>('EvictImage', async (req) => {
      const freed = await deps.cache.evict(validateSha256('sha256', req.sha256));
      return { evicted: true, freedBytes: freed };
    }),
  };
}
