// TEST DOUBLE — not the coordinator. A real grpc-js server implementing
// vonode.v1.CoordinatorService with canned answers, so the CLI can be tested
// over the wire while the real coordinator is written. It records requests
// and plays scripted event streams; it has no state machine, pool or policy.
import { Metadata, ServerCredentials, status, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import { Edge, Phase } from '../../shared/gen/vonode/v1/common.js';
import {
  CoordinatorServiceService,
  HostState,
  NodeState,
  OperationKind,
  OperationState,
  type CoordinatorEvent,
  type CoordinatorServiceServer,
  type DeployNodesRequest,
  type Host,
  type Node,
  type Operation,
  type OperationTiming,
  type PolicyResponse,
  type StatusResponse,
} from '../../shared/gen/vonode/v1/coordinator.js';
import { NotLeaderError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { GrpcServer } from '../../shared/rpc/grpc-server.js';
import { toServiceError } from '../../shared/rpc/server-errors.js';

/** What the double answers; every field has a canned default (see cannedData). */
export interface CannedData {
  status: StatusResponse;
  hosts: Host[];
  nodes: Node[];
  timings: OperationTiming[];
  policy: PolicyResponse;
  /** Events played on DeployNodes for a request; default: every node succeeds (see deployScript). */
  deployEvents: (req: DeployNodesRequest) => CoordinatorEvent[];
  /** Events played on DrainNode/RemoveNode. */
  removeEvents: (hostname: string, kind: OperationKind) => CoordinatorEvent[];
  /** Events played on WatchEvents before the stream is held open. */
  watchEvents: CoordinatorEvent[];
  /** When set, ApplyPolicy fails with INVALID_ARGUMENT and these details. */
  applyPolicyProblems?: string;
}

const T0 = 1_790_000_000_000;

function op(id: string, kind: OperationKind, state: OperationState, node: string, host: string, vo: string, extra: Partial<Operation> = {}): Operation {
  return { id, kind, state, vo, node, host, attempt: 1, error: '', createdUnixMs: T0, finishedUnixMs: 0, trigger: 'manual', ...extra };
}

function opEvent(o: Operation): CoordinatorEvent {
  return { unixMs: T0, event: { $case: 'operation', value: o } };
}

function phaseEvents(opId: string, node: string, phase: Phase, durationMs: number, details: Record<string, string> = {}): CoordinatorEvent[] {
  const base = { operationId: opId, hostname: node, phase, monotonicMs: 0, unixMs: T0, details };
  return [
    { unixMs: T0, event: { $case: 'phase', value: { ...base, edge: Edge.EDGE_START, durationMs: 0 } } },
    { unixMs: T0, event: { $case: 'phase', value: { ...base, edge: Edge.EDGE_END, durationMs } } },
  ];
}

/**
 * Default deployment script: node i goes QUEUED → RUNNING → CR…VMR, SR →
 * SUCCEEDED. When `failVmrOf` names a node, that node fails with VMR started
 * but not ended (a guest that never took its lease).
 */
export function deployScript(req: DeployNodesRequest, failVmrOf?: string): CoordinatorEvent[] {
  const out: CoordinatorEvent[] = [];
  for (let i = 1; i <= Math.max(1, req.count); i++) {
    const node = `vo-${req.vo}-${String(i).padStart(2, '0')}`;
    const id = `op-deploy-${i}`;
    const host = req.host || 'phys01';
    out.push(opEvent(op(id, OperationKind.OPERATION_KIND_DEPLOY, OperationState.OPERATION_STATE_QUEUED, node, '', req.vo)));
    out.push(opEvent(op(id, OperationKind.OPERATION_KIND_DEPLOY, OperationState.OPERATION_STATE_RUNNING, node, host, req.vo)));
    out.push(...phaseEvents(id, node, Phase.PHASE_CR, 12));
    out.push(...phaseEvents(id, node, Phase.PHASE_PT, 2310, { cache_hit: 'false' }));
    out.push(...phaseEvents(id, node, Phase.PHASE_DA, 40));
    out.push(...phaseEvents(id, node, Phase.PHASE_VMB, 350));
    if (node === failVmrOf) {
      out.push(phaseEvents(id, node, Phase.PHASE_VMR, 0)[0]!);
      const error = 'no DHCP lease within 120 s';
      out.push(opEvent(op(id, OperationKind.OPERATION_KIND_DEPLOY, OperationState.OPERATION_STATE_FAILED, node, host, req.vo, { error, finishedUnixMs: T0 + 125_000 })));
      continue;
    }
    out.push(...phaseEvents(id, node, Phase.PHASE_VMR, 3100));
    out.push(...phaseEvents(id, node, Phase.PHASE_SR, 800));
    out.push(opEvent(op(id, OperationKind.OPERATION_KIND_DEPLOY, OperationState.OPERATION_STATE_SUCCEEDED, node, host, req.vo, { finishedUnixMs: T0 + 6_612 })));
  }
  return out;
}

function host(name: string, ip: number, state: HostState, facts: Host['facts'], nodes: number, activeOperation = ''): Host {
  return { name, address: `10.0.0.${ip}:7081`, state, facts, lastSeenUnixMs: T0, nodes, activeOperation };
}

function node(hostname: string, ip: number, vo: string, onHost: string, state: NodeState, operationId: string): Node {
  return { hostname, ip: `10.0.1.${ip}`, mac: `52:54:00:00:01:${ip}`, vo, host: onHost, state, operationId, sinceUnixMs: T0, error: '' };
}

function timing(o: Operation, phases: Array<[Phase, number]>): OperationTiming {
  return { operation: o, phases: phases.map(([phase, durationMs]) => ({ phase, durationMs })), totalMs: phases.reduce((s, [, d]) => s + d, 0) };
}

/** The canned site: 2 hosts up and 1 down, 3 nodes, 3 timed operations, a policy for bio and fusion. */
export function cannedData(): CannedData {
  const GiB = 1024 ** 3;
  const facts = {
    hostname: 'phys01', cpus: 2, hypervisor: 'qemu', cachedImages: [], runningDomains: 2, agentVersion: '0.1.0', peerUrl: '', holdings: [], uploadPeers: 0, linkMbit: 0,
    memoryTotalBytes: 8 * GiB, memoryAvailableBytes: 5 * GiB, memoryCommittedBytes: GiB, diskTotalBytes: 100 * GiB, diskFreeBytes: 60 * GiB,
  };
  const S = OperationState.OPERATION_STATE_SUCCEEDED;
  const D = OperationKind.OPERATION_KIND_DEPLOY;
  return {
    status: {
      site: 'ucm', hostsUp: 2, hostsDown: 1, poolTotal: 8, poolFree: 5, queuedOperations: 1, runningOperations: 1, startedUnixMs: T0, transfers: [], cluster: undefined,
      policy: { file: '/etc/vonode/policy.yaml', sha256: 'a'.repeat(64), loadedUnixMs: T0, rejectedError: '' },
      vos: [
        { vo: 'bio', weight: 2, target: 2, running: 1, deploying: 1, draining: 0, demand: 7, deployFailures: 0, deployHeldUntilUnixMs: 0, lastDeployError: '' },
        { vo: 'fusion', weight: 5, target: 1, running: 1, deploying: 0, draining: 0, demand: 1, deployFailures: 0, deployHeldUntilUnixMs: 0, lastDeployError: '' },
      ],
    },
    hosts: [
      host('phys01', 11, HostState.HOST_STATE_UP, facts, 2, 'op-deploy-9'),
      host('phys02', 12, HostState.HOST_STATE_UP, { ...facts, hostname: 'phys02' }, 1),
      { ...host('phys03', 13, HostState.HOST_STATE_DOWN, undefined, 0), lastSeenUnixMs: T0 - 60_000 },
    ],
    nodes: [
      node('vo-bio-01', 11, 'bio', 'phys01', NodeState.NODE_STATE_RUNNING, 'op-deploy-1'),
      node('vo-bio-02', 12, 'bio', 'phys01', NodeState.NODE_STATE_DEPLOYING, 'op-deploy-9'),
      node('vo-fusion-01', 21, 'fusion', 'phys02', NodeState.NODE_STATE_RUNNING, 'op-deploy-2'),
    ],
    timings: [
      // The paper's Table 2 one-VM row (CR rounded down to 20 ms), then a cached-image deployment.
      timing(op('op-deploy-1', D, S, 'vo-bio-01', 'phys01', 'bio'), [
        [Phase.PHASE_CR, 20], [Phase.PHASE_PT, 96_800], [Phase.PHASE_DA, 4_580], [Phase.PHASE_VMB, 3_000], [Phase.PHASE_VMR, 10_670], [Phase.PHASE_SR, 1_500],
      ]),
      timing(op('op-deploy-2', D, S, 'vo-fusion-01', 'phys02', 'fusion'), [
        [Phase.PHASE_CR, 10], [Phase.PHASE_PT, 12], [Phase.PHASE_DA, 40], [Phase.PHASE_VMB, 300], [Phase.PHASE_VMR, 3_100], [Phase.PHASE_SR, 900],
      ]),
      // Table 3's one-VM row: command received 0.78 s, VM destroyed 6.22 s, SGE noticed after 145 s.
      timing(op('op-remove-1', OperationKind.OPERATION_KIND_REMOVE, S, 'vo-bio-03', 'phys01', 'bio'), [
        [Phase.PHASE_RC, 780], [Phase.PHASE_VMD, 6_220], [Phase.PHASE_DHR, 5], [Phase.PHASE_DKR, 9], [Phase.PHASE_SR, 145_000],
      ]),
    ],
    policy: { yaml: 'vos:\n  bio:\n    weight: 2\n', status: { file: '/etc/vonode/policy.yaml', sha256: 'a'.repeat(64), loadedUnixMs: T0, rejectedError: '' } },
    deployEvents: (req) => deployScript(req),
    removeEvents: (hostname, kind) => [
      opEvent(op('op-rm-1', kind, OperationState.OPERATION_STATE_RUNNING, hostname, 'phys01', 'bio')),
      ...phaseEvents('op-rm-1', hostname, Phase.PHASE_RC, 5),
      ...phaseEvents('op-rm-1', hostname, Phase.PHASE_VMD, 900),
      opEvent(op('op-rm-1', kind, OperationState.OPERATION_STATE_SUCCEEDED, hostname, 'phys01', 'bio', { finishedUnixMs: T0 + 1_000 })),
    ],
    watchEvents: [],
  };
}

/** One request the double received: method name and the decoded request. */
export interface RecordedCall {
  method: string;
  request: unknown;
}

/** TEST DOUBLE of CoordinatorService on 127.0.0.1:0 (insecure or mutual TLS), with canned data. */
export class CannedCoordinatorDouble {
  readonly data: CannedData;
  readonly calls: RecordedCall[] = [];
  /**
   * Plays a standby of an HA site when set: every write (RegisterAgent, Heartbeat, DeployNodes,
   * DrainNode, RemoveNode, ApplyPolicy, ReportVisibility) is refused with NotLeaderError naming
   * this leader address ('' = no leader elected); reads are answered. Default: not a standby.
   */
  standbyOf: string | undefined;
  /**
   * When set, RegisterAgent and Heartbeat answer (heartbeat interval 50 ms) with this
   * coordinator_term, and ReportVisibility answers too; by default the three answer
   * UNIMPLEMENTED (the double serves the CLI).
   */
  agentTerm: number | undefined;
  /** When set, WatchEvents fails with this status after playing its events (default: held open). */
  watchFailsWith: Partial<ServiceError> | undefined;
  private readonly grpc: GrpcServer;
  private port = 0;

  constructor(overrides: Partial<CannedData> = {}) {
    this.data = { ...cannedData(), ...overrides };
    this.grpc = new GrpcServer(['vonode/v1/coordinator.proto'], [{ name: 'vonode.v1.CoordinatorService', definition: CoordinatorServiceService, impl: this.impl() }]);
  }

  /** Address the CLI should use (`127.0.0.1:PORT`); valid after start(). */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Binds 127.0.0.1:0 with the given credentials (default plaintext). */
  async start(creds: ServerCredentials = ServerCredentials.createInsecure()): Promise<string> {
    this.port = await this.grpc.listen('127.0.0.1:0', creds);
    return this.address;
  }

  /** Stops at once (open streams are cancelled). */
  async stop(): Promise<void> {
    await this.grpc.shutdown(200);
  }

  private impl(): CoordinatorServiceServer {
    const d = this.data;
    const record = (method: string, request: unknown): void => void this.calls.push({ method, request });
    const unimplemented = (_call: unknown, cb: (e: Partial<ServiceError>) => void): void => cb({ code: status.UNIMPLEMENTED, details: 'not in the test double' });
    const play = async (call: ServerWritableStream<unknown, CoordinatorEvent>, events: CoordinatorEvent[], end = true): Promise<void> => {
      for (const e of events) {
        if (call.cancelled) return;
        call.write(e);
        await new Promise((r) => setTimeout(r, 2));
      }
      if (end) call.end();
    };
    // A standby refuses every write as the real one does (UNAVAILABLE, the leader in the vonode-leader trailer).
    const refusal = (method: string): Partial<ServiceError> | undefined =>
      this.standbyOf === undefined ? undefined : toServiceError(new NotLeaderError(this.standbyOf), silentLogger(), method);
    const refuseStream = (method: string, call: ServerWritableStream<unknown, CoordinatorEvent>): boolean => {
      const refused = refusal(method);
      if (refused) call.emit('error', refused);
      return refused !== undefined;
    };
    return {
      registerAgent: (call, cb) => {
        if (this.agentTerm === undefined) return unimplemented(call, cb);
        record('RegisterAgent', call.request);
        const refused = refusal('RegisterAgent');
        if (refused) cb(refused);
        else cb(null, { heartbeatIntervalMs: 50, site: d.status.site, coordinatorTerm: this.agentTerm });
      },
      heartbeat: (call, cb) => {
        if (this.agentTerm === undefined) return unimplemented(call, cb);
        record('Heartbeat', call.request);
        const refused = refusal('Heartbeat');
        if (refused) cb(refused);
        else cb(null, { reregister: false, coordinatorTerm: this.agentTerm });
      },
      reportVisibility: (call, cb) => {
        if (this.standbyOf === undefined && this.agentTerm === undefined) return unimplemented(call, cb);
        record('ReportVisibility', call.request);
        const refused = refusal('ReportVisibility');
        if (refused) cb(refused);
        else cb(null, {});
      },
      status: (call, cb) => (record('Status', call.request), cb(null, d.status)),
      listHosts: (call, cb) => (record('ListHosts', call.request), cb(null, { hosts: d.hosts })),
      listNodes: (call, cb) => {
        record('ListNodes', call.request);
        cb(null, { nodes: d.nodes.filter((n) => !call.request.vo || n.vo === call.request.vo) });
      },
      accounting: unimplemented,
      timings: (call, cb) => {
        record('Timings', call.request);
        const limit = call.request.limit;
        cb(null, { operations: limit ? d.timings.slice(-limit) : d.timings });
      },
      getPolicy: (call, cb) => (record('GetPolicy', call.request), cb(null, d.policy)),
      applyPolicy: (call, cb) => {
        record('ApplyPolicy', call.request);
        const refused = refusal('ApplyPolicy');
        if (refused) cb(refused);
        else if (d.applyPolicyProblems) cb({ code: status.INVALID_ARGUMENT, details: d.applyPolicyProblems, metadata: new Metadata() });
        else cb(null, { yaml: call.request.yaml, status: { ...d.policy.status!, file: '' } });
      },
      deployNodes: (call) => {
        record('DeployNodes', call.request);
        if (!refuseStream('DeployNodes', call)) void play(call, d.deployEvents(call.request));
      },
      drainNode: (call) => {
        record('DrainNode', call.request);
        if (!refuseStream('DrainNode', call)) void play(call, d.removeEvents(call.request.hostname, OperationKind.OPERATION_KIND_DRAIN));
      },
      removeNode: (call) => {
        record('RemoveNode', call.request);
        if (!refuseStream('RemoveNode', call)) void play(call, d.removeEvents(call.request.hostname, OperationKind.OPERATION_KIND_REMOVE));
      },
      // Held open like the real one; ends when the client cancels or the double stops.
      watchEvents: (call) => {
        record('WatchEvents', call.request);
        const fails = this.watchFailsWith;
        void play(call, d.watchEvents, false).then(() => fails && !call.cancelled && call.emit('error', { metadata: new Metadata(), ...fails }));
      },
    };
  }
}
