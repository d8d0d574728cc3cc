import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { status, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import { createCoordinatorService, deployCount, type CoordinatorServiceDeps } from '../../../../coordinator/api/coordinator-service.js';
import { MAX_DEPLOY_COUNT, MAX_TIMINGS_LIMIT } from '../../../../coordinator/api/request-limits.js';
import { EventBus } from '../../../../coordinator/events/event-bus.js';
import { InvalidArgumentError } from '../../../../shared/errors.js';
import type {
  CoordinatorEvent,
  DeployNodesRequest,
  ReportVisibilityRequest,
  ReportVisibilityResponse,
  TimingsRequest,
  TimingsResponse,
} from '../../../../shared/gen/vonode/v1/coordinator.js';
import { silentLogger } from '../../../../shared/logger.js';

/** The service over fakes that record what reached the queue and the store. */
function service() {
  const reached = { deploy: [] as Array<{ vo: string; count: number }>, recent: [] as number[], visible: [] as string[][] };
  const deps = {
    logger: silentLogger(),
    events: new EventBus(),
    queue: { submitDeploy: (vo: string, count: number) => (reached.deploy.push({ vo, count }), []) },
    visibility: { report: (hostnames: string[]) => void reached.visible.push(hostnames) },
    store: { recentOperations: (limit: number) => (reached.recent.push(limit), Promise.resolve([])), phases: () => Promise.resolve([]), durable: () => Promise.resolve() },
    authority: { assertLeader: () => undefined, term: () => 0 },
  } as unknown as CoordinatorServiceDeps;
  return { svc: createCoordinatorService(deps), reached };
}

/** Calls a unary handler and resolves with its error (or null). */
function unaryError<Req, Res>(handler: (call: ServerUnaryCall<Req, Res>, cb: (err: Partial<ServiceError> | null) => void) => void, request: Req): Promise<Partial<ServiceError> | null> {
  return new Promise((resolve) => handler({ request } as ServerUnaryCall<Req, Res>, (err) => resolve(err)));
}

/** Calls DeployNodes and resolves with the error the stream was failed with (or null when it ended). */
function deployError(svc: ReturnType<typeof service>['svc'], request: DeployNodesRequest): Promise<Partial<ServiceError> | null> {
  const call = Object.assign(new EventEmitter(), { request, write: () => true, end: () => undefined }) as unknown as ServerWritableStream<DeployNodesRequest, CoordinatorEvent>;
  return new Promise((resolve) => {
    call.on('error', (e: Partial<ServiceError>) => resolve(e));
    (call as unknown as { end: () => void }).end = () => resolve(null);
    svc.deployNodes(call);
  });
}

describe('coordinator/api/CoordinatorService request bounds', () => {
  it('DeployNodes: 0 means 1; 1..1000 pass; above 1000 is INVALID_ARGUMENT naming count, before the queue', async () => {
    const { svc, reached } = service();
    for (const count of [0, 1, MAX_DEPLOY_COUNT]) expect(await deployError(svc, { vo: 'bio', count, host: '' })).to.equal(null);
    expect(reached.deploy.map((d) => d.count)).to.deep.equal([1, 1, MAX_DEPLOY_COUNT]);
    for (const count of [MAX_DEPLOY_COUNT + 1, 4_294_967_295]) {
      const err = await deployError(svc, { vo: 'bio', count, host: '' });
      expect(err?.code).to.equal(status.INVALID_ARGUMENT);
      expect(err?.details).to.match(new RegExp(`^invalid count: must be 1 to 1000 nodes per request \\(0 means 1\\), got ${count}`));
    }
    expect(reached.deploy).to.have.length(3);
  });

  it('DeployNodes: a VO name with "_" is INVALID_ARGUMENT with the one VO-name rule', async () => {
    const err = await deployError(service().svc, { vo: 'bio_x', count: 1, host: '' });
    expect(err?.code).to.equal(status.INVALID_ARGUMENT);
    expect(err?.details).to.equal('invalid vo: "bio_x" is not a VO name: use a lowercase letter then up to 30 of a-z, 0-9, - (e.g. bio, fusion-2)');
  });

  it('Timings: 0 (all) and 1..10000 pass; above 10000 is INVALID_ARGUMENT naming limit, never INTERNAL', async () => {
    const { svc, reached } = service();
    for (const limit of [0, 1, MAX_TIMINGS_LIMIT]) expect(await unaryError<TimingsRequest, TimingsResponse>(svc.timings, { limit })).to.equal(null);
    const err = await unaryError<TimingsRequest, TimingsResponse>(svc.timings, { limit: 4_294_967_295 });
    expect(err?.code).to.equal(status.INVALID_ARGUMENT);
    expect(err?.details).to.equal('invalid limit: must be 0 (all) or 1 to 10000 operations, got 4294967295');
    expect(reached.recent).to.deep.equal([0, 1, MAX_TIMINGS_LIMIT]);
  });

  it('ReportVisibility: at most 10000 hostnames and a reporter of at most 256 characters, each refusal naming its field', async () => {
    const { svc, reached } = service();
    const call = (req: Partial<ReportVisibilityRequest>) =>
      unaryError<ReportVisibilityRequest, ReportVisibilityResponse>(svc.reportVisibility, { phase: 0, hostnames: [], reporter: 'mad', moment: '', ...req });
    expect(await call({ hostnames: ['vwn-001'] })).to.equal(null);
    const many = await call({ hostnames: Array.from({ length: 10_001 }, () => 'vwn-001') });
    expect([many?.code, many?.details]).to.deep.equal([status.INVALID_ARGUMENT, 'invalid hostnames: has 10001 entries; report at most 10000 per call']);
    const long = await call({ reporter: 'x'.repeat(257) });
    expect([long?.code, long?.details]).to.deep.equal([status.INVALID_ARGUMENT, 'invalid reporter: is longer than 256 characters']);
    expect(reached.visible).to.deep.equal([['vwn-001']]);
  });

  it('deployCount refuses what no uint32 client can send too (negative, fractional)', () => {
    for (const bad of [-1, 1.5, NaN]) expect(() => deployCount(bad)).to.throw(InvalidArgumentError, /invalid count/);
  });
});
