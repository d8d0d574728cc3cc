import type { CoordinatorEvent } from '../../shared/gen/vonode/v1/coordinator.js';

/** A subscriber callback; must not throw. */
export type EventListener = (event: CoordinatorEvent) => void;

/**
 * Fan-out of site events (phases, operations, hosts, nodes, policy) to the
 * CLI's streams and the metrics. Synchronous and in-process: listeners that
 * write to a gRPC stream rely on grpc-js's own buffering.
 */
export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private published = 0;

  /** Delivers an event to every listener; a listener that throws is dropped. */
  publish(event: Omit<CoordinatorEvent, 'unixMs'> & { unixMs?: number }): void {
    const full: CoordinatorEvent = { unixMs: event.unixMs ?? Date.now(), event: event.event };
    this.published++;
    for (const l of [...this.listeners]) {
      try {
        l(full);
      } catch {
        this.listeners.delete(l);
      }
    }
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events published since start (for the throughput benchmark). */
  get count(): number {
    return this.published;
  }
}
