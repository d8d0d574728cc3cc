import type {
  CoordinatorEventJson,
  HostJson,
  NodeJson,
  OperationJson,
  OperationTimingJson,
  PolicyStatusJson,
  StatusJson,
} from './api-types.js';
import { EventRing } from './event-ring.js';
import { phaseShort } from './format.js';
import { nodeLeavesWith } from './wire-names.js';

/** A recent operation: its last state and the durations of the phases that ended, by short name. */
export interface OperationEntry {
  operation: OperationJson;
  /** ms per phase; a phase run again (a retry) keeps its last duration, as `vonode timings` does. */
  durations: Map<string, number>;
  /** The coordinator's total, when the entry came from `/api/operations`. */
  totalMs?: number;
}

/** An event as received, numbered in arrival order. */
export interface LoggedEvent {
  seq: number;
  event: CoordinatorEventJson;
}

/** Change counters per part of the model: views memoize on the one they read. */
export interface ModelVersions {
  nodes: number;
  hosts: number;
  operations: number;
  events: number;
  status: number;
}

/** Sizes of the bounded parts. */
export interface SiteModelOptions {
  /** Events kept for the events view (default 500). */
  eventCapacity?: number;
  /** Recent operations kept (default 1000; the list loads 200). */
  operationCapacity?: number;
}

/**
 * The site as the page knows it: snapshots from the API with the event
 * stream applied on top. Applying an event costs O(1) (a Map set or delete,
 * a ring push): bursts of hundreds of events per second never scan the
 * nodes. A snapshot load brackets its request with beginSnapshot/endSnapshot
 * so that events which arrive while the request is in flight are applied
 * again over the snapshot, which may predate them.
 */
export class SiteModel {
  readonly nodes = new Map<string, NodeJson>();
  readonly hosts = new Map<string, HostJson>();
  /** In insertion order, oldest first; bounded by `operationCapacity`. */
  readonly operations = new Map<string, OperationEntry>();
  readonly events: EventRing<LoggedEvent>;
  readonly versions: ModelVersions = { nodes: 0, hosts: 0, operations: 0, events: 0, status: 0 };
  status: StatusJson | undefined;
  private readonly operationCapacity: number;
  private seq = 0;
  private journal: CoordinatorEventJson[] | undefined;
  private journalUsers = 0;
  private readonly watchers = new Map<string, Set<() => void>>();

  constructor(options: SiteModelOptions = {}) {
    this.events = new EventRing<LoggedEvent>(options.eventCapacity ?? 500);
    this.operationCapacity = options.operationCapacity ?? 1000;
  }

  /** Applies one stream event and logs it in the event ring. */
  apply(event: CoordinatorEventJson): void {
    this.events.push({ seq: ++this.seq, event });
    this.versions.events++;
    this.journal?.push(event);
    this.applyNodeEffects(event);
    this.applyHostEffects(event);
    this.applyOperationEffects(event);
    if (event.policy && this.status) {
      this.status = { ...this.status, policy: event.policy };
      this.versions.status++;
    }
    const opId = event.operation?.id ?? event.phase?.operationId;
    if (opId) for (const w of this.watchers.get(opId) ?? []) w();
  }

  /** The policy status: the last status's, updated by policy events since. */
  get policy(): PolicyStatusJson | undefined {
    return this.status?.policy;
  }

  /** Replaces the status (VO counters, pool, queue, transfers). */
  setStatus(status: StatusJson): void {
    this.status = status;
    this.versions.status++;
  }

  /** Starts recording events for a snapshot load; pass the mark to the replace method, then call endSnapshot. */
  beginSnapshot(): number {
    this.journal ??= [];
    this.journalUsers++;
    return this.journal.length;
  }

  /** Ends a snapshot load begun with beginSnapshot (also when it failed). */
  endSnapshot(): void {
    this.journalUsers = Math.max(0, this.journalUsers - 1);
    if (!this.journalUsers) this.journal = undefined;
  }

  /** Replaces the nodes with a snapshot, then applies again the events received since `mark`. */
  replaceNodes(nodes: readonly NodeJson[], mark: number): void {
    this.nodes.clear();
    for (const n of nodes) if (n.hostname) this.nodes.set(n.hostname, n);
    for (const e of this.journalSince(mark)) this.applyNodeEffects(e);
    this.versions.nodes++;
  }

  /** Replaces the hosts with a snapshot, then applies again the events received since `mark`. */
  replaceHosts(hosts: readonly HostJson[], mark: number): void {
    this.hosts.clear();
    for (const h of hosts) if (h.name) this.hosts.set(h.name, h);
    for (const e of this.journalSince(mark)) this.applyHostEffects(e);
    this.versions.hosts++;
  }

  /** Replaces the recent operations with a snapshot (any order), then applies again the events received since `mark`. */
  replaceOperations(timings: readonly OperationTimingJson[], mark: number): void {
    this.operations.clear();
    const sorted = timings.filter((t) => t.operation?.id).sort((a, b) => (a.operation!.createdUnixMs ?? 0) - (b.operation!.createdUnixMs ?? 0));
    for (const t of sorted) {
      const durations = new Map((t.phases ?? []).map((p) => [phaseShort(p.phase), p.durationMs ?? 0]));
      this.putOperation({ operation: t.operation!, durations, totalMs: t.totalMs });
    }
    for (const e of this.journalSince(mark)) this.applyOperationEffects(e);
    this.versions.operations++;
  }

  /** Calls `listener` after each event about operation `id` (its state or its phases); returns the unsubscribe function. */
  watchOperation(id: string, listener: () => void): () => void {
    const set = this.watchers.get(id) ?? new Set();
    set.add(listener);
    this.watchers.set(id, set);
    return () => {
      set.delete(listener);
      if (!set.size) this.watchers.delete(id);
    };
  }

  private journalSince(mark: number): CoordinatorEventJson[] {
    return this.journal?.slice(mark) ?? [];
  }

  private applyNodeEffects(e: CoordinatorEventJson): void {
    if (e.node?.hostname) {
      this.nodes.set(e.node.hostname, e.node);
      this.versions.nodes++;
    }
    const op = e.operation;
    if (op?.node && nodeLeavesWith(op)) {
      const node = this.nodes.get(op.node);
      // Only if the node still belongs to this operation: its triple may have been leased again since.
      if (node && (!node.operationId || node.operationId === op.id)) {
        this.nodes.delete(op.node);
        this.versions.nodes++;
      }
    }
  }

  private applyHostEffects(e: CoordinatorEventJson): void {
    if (!e.host?.name) return;
    // Host events carry state and facts but not the node count or slot holder (sent as zero, so
    // absent in the JSON): merge, keeping those from the last snapshot.
    this.hosts.set(e.host.name, { ...this.hosts.get(e.host.name), ...e.host });
    this.versions.hosts++;
  }

  private applyOperationEffects(e: CoordinatorEventJson): void {
    if (e.operation?.id) {
      const entry = this.operations.get(e.operation.id);
      if (entry) entry.operation = e.operation;
      else this.putOperation({ operation: e.operation, durations: new Map() });
      this.versions.operations++;
    }
    const p = e.phase;
    if (p?.operationId && p.edge === 'EDGE_END') {
      const entry = this.operations.get(p.operationId);
      if (entry) {
        entry.durations.set(phaseShort(p.phase), p.durationMs ?? 0);
        this.versions.operations++;
      }
    }
  }

  private putOperation(entry: OperationEntry): void {
    this.operations.set(entry.operation.id, entry);
    if (this.operations.size > this.operationCapacity) {
      const oldest = this.operations.keys().next();
      if (!oldest.done) this.operations.delete(oldest.value);
    }
  }
}
