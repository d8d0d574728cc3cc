import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { errorMessage, InvalidArgumentError, NotLeaderError } from '../../shared/errors.js';
import type { CoordinatorEvent, CoordinatorServiceServer, PolicyResponse } from '../../shared/gen/vonode/v1/coordinator.js';
import type { Logger } from '../../shared/logger.js';
import { toServiceError } from '../../shared/rpc/server-errors.js';
import { validateHostname, validateVoName } from '../../shared/validation.js';
import type { OperationQueue } from '../deploy/operation-queue.js';
import type { EventBus } from '../events/event-bus.js';
import type { VisibilityReports } from '../gridway/visibility-reports.js';
import { formatProblem } from '../policy/policy-check.js';
import type { OperationRecord } from '../store/records.js';
import { isFinished } from '../store/records.js';
import { validateHostFacts, validateReportedDomains } from './agent-report.js';
import { policyStatusToWire } from './policy-wire.js';
import { MAX_DEPLOY_COUNT, MAX_REPORTER_LENGTH, MAX_TIMINGS_LIMIT, MAX_VISIBILITY_HOSTNAMES } from './request-limits.js';
import { operationTimings, siteHosts, siteNodes, siteStatus, type SiteViewDeps } from './site-views.js';
import { operationToWire, usageToWire } from './wire.js';

/**
 * Who may write here: a single (SQLite) coordinator always, the leader of
 * an HA site while its lease holds, a standby never (NotLeaderError names
 * the leader, and clients move there).
 */
export interface WriteAuthority {
  /** Throws NotLeaderError unless this coordinator may take writes now. */
  assertLeader(): void;
  /** The term agents are given (0 without HA). */
  term(): number;
  /** False while the leader must hold still (its lease unconfirmed); absent: always true. */
  canAct?(): boolean;
  /** Resolves once a leader holding still may act again (or at once when it is not holding still; bounded). */
  ready?(): Promise<void>;
}

/** Everything the RPC edge delegates to. */
export interface CoordinatorServiceDeps extends SiteViewDeps {
  /** The deployment queue; absent on a standby (which refuses writes before reaching it). */
  queue: OperationQueue | undefined;
  authority: WriteAuthority;
  /** Where grid services' visibility reports go (GW phase). */
  visibility: VisibilityReports;
  events: EventBus;
  logger: Logger;
  heartbeatIntervalMs: number;
}

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => void;

/**
 * vonode.v1.CoordinatorService: validates requests, delegates to the
 * registry, queue, store and policy watcher, and maps errors to statuses.
 */
export function createCoordinatorService(d: CoordinatorServiceDeps): CoordinatorServiceServer {
  const unary =
    <Req, Res>(method: string, fn: (req: Req) => Res | Promise<Res>): Unary<Req, Res> =>
    (call, cb) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err, d.logger, method)),
        );
    };
  const policyResponse = (): PolicyResponse => ({ yaml: d.policy.text, status: policyStatusToWire(d.policy) });
  /** The queue, for a write only the leader takes. Throws NotLeaderError elsewhere. */
  const leaderQueue = (): OperationQueue => {
    d.authority.assertLeader();
    if (!d.queue) throw new Error('the leader has no deployment queue yet');
    return d.queue;
  };

  return {
    registerAgent: unary('RegisterAgent', async (req) => {
      await d.authority.ready?.();
      const queue = leaderQueue();
      d.registry.register(req.hostName, req.address, validateHostFacts('facts', req.facts), validateReportedDomains('domains', req.domains));
      queue.pump();
      return { heartbeatIntervalMs: d.heartbeatIntervalMs, site: d.site, coordinatorTerm: d.authority.term() };
    }),
    heartbeat: unary('Heartbeat', async (req) => {
      await d.authority.ready?.();
      const queue = leaderQueue();
      const seen = d.registry.heartbeat(req.hostName, validateHostFacts('facts', req.facts));
      // Only a change can unblock a queued deployment; the queue's 1 s backstop covers the rest.
      if (seen === 'changed') queue.pump();
      return { reregister: seen === 'unknown', coordinatorTerm: d.authority.term() };
    }),
    status: unary('Status', async () => ({ ...siteStatus(d), cluster: await d.cluster?.() })),
    listHosts: unary('ListHosts', () => siteHosts(d, (host) => d.queue?.slots.holder(host) ?? '')),
    listNodes: unary('ListNodes', (req) => {
      if (req.vo) validateVoName('vo', req.vo);
      return siteNodes(d, req.vo);
    }),
    timings: unary('Timings', async (req) => {
      if (req.limit > MAX_TIMINGS_LIMIT) throw new InvalidArgumentError('limit', `must be 0 (all) or 1 to ${MAX_TIMINGS_LIMIT} operations, got ${req.limit}`);
      return { operations: await operationTimings(d.store, await d.store.recentOperations(req.limit), operationToWire) };
    }),
    accounting: unary('Accounting', async (req) => {
      if (req.vo) validateVoName('vo', req.vo);
      const nowMs = Date.now();
      const untilMs = req.untilUnixMs || nowMs;
      if (!Number.isFinite(req.sinceUnixMs) || req.sinceUnixMs < 0) throw new InvalidArgumentError('since_unix_ms', `must be a time after 1970 in unix ms, got ${req.sinceUnixMs}`);
      if (!Number.isFinite(untilMs) || untilMs <= req.sinceUnixMs) {
        throw new InvalidArgumentError('until_unix_ms', `must be after since_unix_ms (${req.sinceUnixMs}), got ${untilMs}`);
      }
      const records = await d.store.usageRecords(req.sinceUnixMs, untilMs);
      return {
        records: records.filter((u) => !req.vo || u.vo === req.vo).map(usageToWire),
        sinceUnixMs: req.sinceUnixMs, untilUnixMs: untilMs, nowUnixMs: nowMs, site: d.site,
      };
    }),
    getPolicy: unary('GetPolicy', policyResponse),
    applyPolicy: unary('ApplyPolicy', async (req) => {
      await d.authority.ready?.();
      d.authority.assertLeader();
      const result = await d.policy.apply(req.yaml);
      if (!result.ok) throw new InvalidArgumentError('yaml', `the policy was refused, nothing changed:\n  - ${result.problems.map(formatProblem).join('\n  - ')}`);
      return policyResponse();
    }),
    deployNodes: (call) =>
      followOperations(d, call, () => {
        const vo = validateVoName('vo', call.request.vo);
        return leaderQueue().submitDeploy(vo, deployCount(call.request.count), call.request.host, 'manual');
      }),
    drainNode: (call) => followOperations(d, call, () => [leaderQueue().submitRemoval(call.request.hostname, 'drain', 'manual')]),
    removeNode: (call) => followOperations(d, call, () => [leaderQueue().submitRemoval(call.request.hostname, 'remove', 'manual')]),
    reportVisibility: unary('ReportVisibility', async (req) => {
      await d.authority.ready?.();
      d.authority.assertLeader();
      if (req.hostnames.length > MAX_VISIBILITY_HOSTNAMES) {
        throw new InvalidArgumentError('hostnames', `has ${req.hostnames.length} entries; report at most ${MAX_VISIBILITY_HOSTNAMES} per call`);
      }
      if (req.reporter.length > MAX_REPORTER_LENGTH) throw new InvalidArgumentError('reporter', `is longer than ${MAX_REPORTER_LENGTH} characters`);
      const hostnames = req.hostnames.map((h, i) => validateHostname(`hostnames[${i}]`, h));
      if (req.moment !== '' && req.moment !== 'schedulable' && req.moment !== 'discover_pushed') {
        throw new InvalidArgumentError('moment', `must be "schedulable", "discover_pushed" or empty, got "${req.moment.slice(0, 40)}"`);
      }
      d.visibility.report(hostnames, req.reporter || 'unnamed', req.moment === 'discover_pushed' ? 'discover_pushed' : 'schedulable');
      return {};
    }),
    watchEvents: (call) => {
      const unsubscribe = d.events.subscribe((e) => call.write(e));
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
    },
  };
}

/** DeployNodesRequest.count checked: 0 means 1; above MAX_DEPLOY_COUNT is refused. Throws InvalidArgumentError naming `count`. */
export function deployCount(count: number): number {
  if (!Number.isInteger(count) || count < 0 || count > MAX_DEPLOY_COUNT) {
    throw new InvalidArgumentError('count', `must be 1 to ${MAX_DEPLOY_COUNT} nodes per request (0 means 1), got ${count}; deploy more in several requests`);
  }
  return count || 1;
}

/**
 * Submits operations and streams their events until every one has ended.
 * Subscribes before submitting so no event of theirs is missed.
 */
function followOperations<Req>(d: CoordinatorServiceDeps, call: ServerWritableStream<Req, CoordinatorEvent>, submit: () => OperationRecord[]): void {
  // A leader holding still (its lease unconfirmed) takes the request once it may act again.
  void (d.authority.ready?.() ?? Promise.resolve())
    .then(() => submitAndFollow(d, call, submit))
    .catch((err: unknown) => call.emit('error', toServiceError(err, d.logger, 'operation')));
}

function submitAndFollow<Req>(d: CoordinatorServiceDeps, call: ServerWritableStream<Req, CoordinatorEvent>, submit: () => OperationRecord[]): void {
  const buffered: CoordinatorEvent[] = [];
  let ids: Set<string> | undefined;
  const open = new Set<string>();
  const relevant = (e: CoordinatorEvent): string | undefined => {
    const ev = e.event;
    if (ev?.$case === 'operation') return ev.value.id;
    if (ev?.$case === 'phase') return ev.value.operationId;
    if (ev?.$case === 'node') return ev.value.operationId;
    return undefined;
  };
  const deliver = (e: CoordinatorEvent): void => {
    const id = relevant(e);
    if (!id || !ids?.has(id)) return;
    call.write(e);
    if (e.event?.$case === 'operation' && isFinished(opState(e.event.value.state))) open.delete(id);
    if (open.size === 0) finish();
  };
  const unsubscribe = d.events.subscribe((e) => (ids ? deliver(e) : buffered.push(e)));
  const finish = (): void => {
    unsubscribe();
    call.end();
  };
  call.on('cancelled', unsubscribe);
  let ops: OperationRecord[];
  try {
    ops = submit();
  } catch (err) {
    unsubscribe();
    call.emit('error', toServiceError(err, d.logger, 'operation'));
    return;
  }
  // Nothing is acknowledged before it is durable (etcd: committed under this leader's term); a leader that
  // loses its term first answers UNAVAILABLE, and the request may or may not have been recorded.
  d.store.durable().then(
    () => {
      ids = new Set(ops.map((o) => o.id));
      for (const o of ops) if (!isFinished(o.state)) open.add(o.id);
      if (open.size === 0) {
        for (const o of ops) call.write({ unixMs: Date.now(), event: { $case: 'operation', value: operationToWire(o) } });
        return finish();
      }
      for (const e of buffered.splice(0)) deliver(e);
    },
    (err: unknown) => {
      unsubscribe();
      call.emit('error', toServiceError(new NotLeaderError('', `the request could not be recorded (${errorMessage(err)}); it may or may not take effect`), d.logger, 'operation'));
    },
  );
}

const WIRE_STATE: Record<number, OperationRecord['state']> = { 1: 'queued', 2: 'running', 3: 'succeeded', 4: 'failed', 5: 'retrying' };
function opState(wire: number): OperationRecord['state'] {
  return WIRE_STATE[wire] ?? 'queued';
}
