// A TEST DOUBLE of the coordinator, not the coordinator: a real grpc-js
// server that implements only RegisterAgent and Heartbeat (every other
// method answers UNIMPLEMENTED) and records what agents sent.
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  CoordinatorServiceService,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterAgentRequest,
  type RegisterAgentResponse,
} from '../../shared/gen/vonode/v1/coordinator.js';
import { systemClock } from '../../shared/clock.js';
import { until } from '../../scripts/testbed/lib/wait.js';

/** One recorded call, with the monotonic time it arrived. */
export interface Recorded<T> {
  atMs: number;
  request: T;
}

/** Records agent registrations and heartbeats; can ask for re-registration or forget agents like a restarted coordinator. */
export class RecordingCoordinatorDouble {
  readonly registrations: Recorded<RegisterAgentRequest>[] = [];
  readonly heartbeats: Recorded<HeartbeatRequest>[] = [];
  /** Interval handed out by RegisterAgent. */
  heartbeatIntervalMs = 50;
  site = 'double-site';
  /** Answer `reregister: true` to the next heartbeat. */
  reregisterNext = false;
  port = 0;
  /** Hosts registered since the last start()/forget(); others' heartbeats get NOT_FOUND. */
  private readonly known = new Set<string>();
  private server: Server | undefined;

  /** Serves on 127.0.0.1:`port` (0: any free port); resolves with the port. Forgets every agent, as a restarted coordinator does. */
  async start(port = 0): Promise<number> {
    this.known.clear();
    const server = new Server();
    const impl: UntypedServiceImplementation = {
      registerAgent: (call: ServerUnaryCall<RegisterAgentRequest, RegisterAgentResponse>, cb: sendUnaryData<RegisterAgentResponse>) => {
        this.registrations.push({ atMs: systemClock.monotonicMs(), request: call.request });
        this.known.add(call.request.hostName);
        cb(null, { heartbeatIntervalMs: this.heartbeatIntervalMs, site: this.site, coordinatorTerm: 0 });
      },
      heartbeat: (call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>, cb: sendUnaryData<HeartbeatResponse>) => {
        this.heartbeats.push({ atMs: systemClock.monotonicMs(), request: call.request });
        if (!this.known.has(call.request.hostName)) return cb({ code: status.NOT_FOUND, details: `no agent named ${call.request.hostName}` });
        const reregister = this.reregisterNext;
        this.reregisterNext = false;
        cb(null, { reregister, coordinatorTerm: 0 });
      },
    };
    server.addService(CoordinatorServiceService, impl);
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    this.server = server;
    return this.port;
  }

  /** Stops at once (open calls fail), keeping the records. */
  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** Forgets every agent: their next heartbeat gets NOT_FOUND. */
  forget(): void {
    this.known.clear();
  }

  /** Resolves once `predicate` holds, polling every 10 ms; rejects with `what` after timeoutMs. */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    await until(what, predicate, timeoutMs, 10);
  }
}
