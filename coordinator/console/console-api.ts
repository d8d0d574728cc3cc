import { ListHostsResponse, ListNodesResponse, Operation, StatusResponse, TimingsResponse } from '../../shared/gen/vonode/v1/coordinator.js';
import { NotFoundError } from '../../shared/errors.js';
import { PAPER_2007_DEPLOY_S, PAPER_2007_REMOVAL_S } from '../../shared/paper-2007.js';
import { validateVoName } from '../../shared/validation.js';
import { parseTimeArg } from '../accounting/usage-period.js';
import type { CoordinatorServiceDeps } from '../api/coordinator-service.js';
import { MAX_TIMINGS_LIMIT } from '../api/request-limits.js';
import { operationTimings, siteHosts, siteNodes, siteStatus } from '../api/site-views.js';
import { operationToWire } from '../api/wire.js';
import { buildLayerSummary, layerSummaryToJson } from '../cli/render/layer-summary.js';
import type { ConsoleViewer } from './console-auth.js';

/** What the console reads: the coordinator's RPC edge dependencies as they are now (a standby's change when it is elected). */
export interface ConsoleApiDeps {
  views(): CoordinatorServiceDeps | undefined;
  role(): 'single' | 'leader' | 'standby';
  nowMs(): number;
}

/** A refused request: its HTTP status and what to say. */
export class ConsoleRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_OPERATIONS = 200;
const DAY_MS = 86_400_000;

/** The JSON answers of the console's read API (docs/console.md): the gRPC answers' proto3 JSON, as `vonode ... --json` prints them. */
export class ConsoleApi {
  constructor(private readonly deps: ConsoleApiDeps) {}

  whoami(viewer: ConsoleViewer): unknown {
    return { name: viewer.name, via: viewer.via, role: viewer.role ?? '', site: this.views().site, coordinator: this.deps.role() };
  }

  async status(): Promise<unknown> {
    const d = this.views();
    return StatusResponse.toJSON({ ...siteStatus(d), cluster: await d.cluster?.() });
  }

  hosts(): unknown {
    const d = this.views();
    return ListHostsResponse.toJSON(siteHosts(d, (host) => d.queue?.slots.holder(host) ?? ''));
  }

  nodes(query: URLSearchParams): unknown {
    const vo = query.get('vo') ?? '';
    if (vo) this.checked(() => validateVoName('vo', vo));
    return ListNodesResponse.toJSON(siteNodes(this.views(), vo));
  }

  async operations(query: URLSearchParams): Promise<unknown> {
    const text = query.get('limit');
    const limit = text === null ? DEFAULT_OPERATIONS : Number(text);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TIMINGS_LIMIT) throw new ConsoleRequestError(400, `limit must be 1 to ${MAX_TIMINGS_LIMIT}, got "${text}"`);
    const d = this.views();
    return TimingsResponse.toJSON({ operations: await operationTimings(d.store, await d.store.recentOperations(limit), operationToWire) });
  }

  /** One operation with every phase mark it recorded (all attempts), for its timeline. */
  async operation(id: string): Promise<unknown> {
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) throw new ConsoleRequestError(400, 'an operation id is 1-128 characters of A-Z a-z 0-9 . _ : -');
    const d = this.views();
    const op = await d.store.findOperation(id);
    if (!op) throw new ConsoleRequestError(404, `no operation ${id} (see /api/operations)`);
    const phases = (await d.store.phases(id)).map((p) => ({
      attempt: p.attempt, host: p.host, phase: p.phase, edge: p.edge, unixMs: p.unixMs, durationMs: p.durationMs, details: p.details,
    }));
    return { operation: Operation.toJSON(operationToWire(op)), phases, paper2007: op.kind === 'deploy' ? PAPER_2007_DEPLOY_S : PAPER_2007_REMOVAL_S };
  }

  /** The Fig. 3 summary of the deployments created in [since, until) among the last 10,000 operations. */
  async layers(query: URLSearchParams): Promise<unknown> {
    const now = this.deps.nowMs();
    const sinceMs = this.time('since', query.get('since'), now - DAY_MS, now);
    const untilMs = this.time('until', query.get('until'), now, now);
    if (untilMs <= sinceMs) throw new ConsoleRequestError(400, 'until must be after since');
    const d = this.views();
    const ops = (await d.store.recentOperations(MAX_TIMINGS_LIMIT)).filter((o) => o.kind === 'deploy' && o.createdMs >= sinceMs && o.createdMs < untilMs);
    const summary = layerSummaryToJson(buildLayerSummary(await operationTimings(d.store, ops, operationToWire)));
    return { ...summary, sinceUnixMs: sinceMs, untilUnixMs: untilMs };
  }

  private time(name: string, text: string | null, fallback: number, now: number): number {
    if (text === null || text === '') return fallback;
    if (/^\d{1,15}$/.test(text)) return Number(text);
    return this.checked(() => parseTimeArg(name, text, now));
  }

  private views(): CoordinatorServiceDeps {
    const d = this.deps.views();
    if (!d) throw new ConsoleRequestError(503, 'the coordinator is still starting; try again in a moment');
    return d;
  }

  private checked<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof NotFoundError) throw new ConsoleRequestError(404, e.message);
      throw new ConsoleRequestError(400, (e as Error).message);
    }
  }
}
