import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, Summary, collectDefaultMetrics } from 'prom-client';
import type { PhaseMark } from '../../shared/phases.js';
import type { OperationRecord } from '../store/records.js';

/** Live values the gauges read at scrape time. */
export interface MetricsSources {
  queueDepth(): { queued: number; running: number };
  agentsUp(): number;
  agentsDown(): number;
  nodesByState(): Record<string, number>;
  /** VOs with deployments failed since their last success (DeployHolds.snapshot(); empty on a standby). */
  deployHolds(): ReadonlyMap<string, DeployHoldView>;
  /** Wall-clock now (ms): the clock the holds' untilMs is on. */
  nowMs(): number;
}

/** What the metrics read of one VO's deployment hold. */
export interface DeployHoldView {
  /** Deployments of the VO failed for good since its last success. */
  failures: number;
  /** No new deployment of the VO before this (wall-clock ms). */
  untilMs: number;
  /** What made the last failed deployment fail (DeployFailureCause: a handful of values); 'other' when absent. */
  cause?: string;
}

/** Operation kinds and final results: their counters are exported at 0 from the start, so increase() sees the first one. */
const OPERATION_KINDS = ['deploy', 'drain', 'remove'] as const;
const OPERATION_RESULTS = ['succeeded', 'failed'] as const;

/**
 * The coordinator's Prometheus metrics (prom-client: the de-facto Node
 * client, exposition format and default process metrics included).
 */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly operations: Counter<'kind' | 'result'>;
  private readonly phaseSeconds: Histogram<'phase'>;
  private readonly dispatchSeconds: Summary;
  private server: http.Server | undefined;

  constructor(sources: MetricsSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'vonode_coordinator_' });
    this.operations = new Counter({ name: 'vonode_operations_total', help: 'Finished deployments, drains and removals by result', labelNames: ['kind', 'result'], registers: [r] });
    for (const kind of OPERATION_KINDS) for (const result of OPERATION_RESULTS) this.operations.inc({ kind, result }, 0);
    this.phaseSeconds = new Histogram({
      name: 'vonode_phase_duration_seconds', help: 'Duration of each deployment/removal phase', labelNames: ['phase'], registers: [r],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
    });
    this.dispatchSeconds = new Summary({
      name: 'vonode_dispatch_pass_seconds', help: 'One planning/dispatch pass: placement of every queued operation', registers: [r],
      percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5,
    });
    new Gauge({ name: 'vonode_queue_depth', help: 'Operations queued (state=queued) and running', labelNames: ['state'], registers: [r], collect() {
      const d = sources.queueDepth();
      this.set({ state: 'queued' }, d.queued);
      this.set({ state: 'running' }, d.running);
    } });
    new Gauge({ name: 'vonode_agents', help: 'Registered agents by state', labelNames: ['state'], registers: [r], collect() {
      this.set({ state: 'up' }, sources.agentsUp());
      this.set({ state: 'down' }, sources.agentsDown());
    } });
    new Gauge({ name: 'vonode_nodes', help: 'Leased nodes by state', labelNames: ['state'], registers: [r], collect() {
      this.reset();
      for (const [state, n] of Object.entries(sources.nodesByState())) this.set({ state }, n);
    } });
    // Series only for VOs with failures since their last success: a success (or the VO leaving the policy) removes them.
    new Gauge({
      name: 'vonode_vo_deploy_hold', help: 'Per VO with failed deployments since its last success: 1 while the scaling loop holds back its new deployments, 0 once the hold expired; cause: what made the last one fail',
      labelNames: ['vo', 'cause'], registers: [r], collect() {
        this.reset();
        const now = sources.nowMs();
        for (const [vo, h] of sources.deployHolds()) this.set({ vo, cause: h.cause ?? 'other' }, h.untilMs > now ? 1 : 0);
      },
    });
    new Gauge({ name: 'vonode_vo_deploy_failures', help: 'Deployments of the VO failed for good since its last success', labelNames: ['vo'], registers: [r], collect() {
      this.reset();
      for (const [vo, h] of sources.deployHolds()) this.set({ vo }, h.failures);
    } });
  }

  /** Records a phase end. */
  onPhase(mark: PhaseMark): void {
    if (mark.edge === 'end' && mark.durationMs !== undefined) this.phaseSeconds.observe({ phase: mark.phase }, mark.durationMs / 1000);
  }

  /** Records one dispatch pass. */
  onDispatchPass(ms: number): void {
    this.dispatchSeconds.observe(ms / 1000);
  }

  /** Records a finished operation. */
  onFinished(op: OperationRecord): void {
    this.operations.inc({ kind: op.kind, result: op.state });
  }

  /** Serves GET /metrics on host:port; resolves with the bound port. */
  listen(address: string): Promise<number> {
    const i = address.lastIndexOf(':');
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end('see /metrics\n');
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(address.slice(i + 1)), address.slice(0, i), () => resolve((server.address() as { port: number }).port));
    });
  }

  /** Stops the HTTP server. */
  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
