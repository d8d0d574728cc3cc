import { NodeState, type Node } from '../../shared/gen/vonode/v1/coordinator.js';
import { isReportableHostname } from './im-protocol.js';

/**
 * What this gwd session knows about vonode nodes, and so what to push:
 *
 * - `told`: every node gwd has heard of in this session (listed by a
 *   DISCOVER, pushed, or asked about by MONITOR), with the last record seen.
 *   gwd never removes a host, so a told node that the coordinator no longer
 *   has is answered as removed (no free node) instead of as unknown.
 * - `announced`: nodes gwd was told are running since they last became
 *   running; a node that becomes running and is not in it is pushed (a
 *   redeployed pool hostname is pushed again).
 *
 * Pushes open after the first DISCOVER answer: gwd always discovers at
 * start-up and that answer lists every running node, so pushing before it
 * would only tell gwd twice (each DISCOVER line also decrements gwd's count
 * of active queries). Nodes that become running before it are kept and
 * pushed when the gate opens unless that answer listed them. A FAILURE
 * answer opens it too, as `discovered([])`: gwd then knows no node.
 */
export class GwdHostBook {
  private readonly told = new Map<string, Node>();
  private readonly announced = new Set<string>();
  private readonly running = new Map<string, Node>();
  private readonly pending = new Set<string>();
  private open = false;

  /** Records a solicited DISCOVER answer listing `nodes` ([] for a FAILURE); returns the nodes to push now (those that became running meanwhile). */
  discovered(nodes: readonly Node[]): string[] {
    for (const n of nodes) {
      this.told.set(n.hostname, n);
      this.announced.add(n.hostname);
    }
    this.open = true;
    const due = [...this.pending].filter((h) => this.running.has(h) && !this.announced.has(h));
    this.pending.clear();
    return this.announce(due);
  }

  /** Applies one node record from the event stream; returns the hostnames to push (0 or 1). */
  observe(node: Node): string[] {
    const host = node.hostname;
    if (this.told.has(host)) this.told.set(host, node);
    if (node.state !== NodeState.NODE_STATE_RUNNING) {
      this.running.delete(host);
      this.announced.delete(host);
      return [];
    }
    this.running.set(host, node);
    if (this.announced.has(host) || !isReportableHostname(host)) return [];
    if (!this.open) {
      this.pending.add(host);
      return [];
    }
    return this.announce([host]);
  }

  /** A node left the coordinator (its removal succeeded): it must be pushed again if it comes back. */
  removed(hostname: string): void {
    this.running.delete(hostname);
    this.announced.delete(hostname);
    this.pending.delete(hostname);
  }

  /** Applies a full node list (after (re)connecting the event stream); returns the hostnames to push. */
  resync(nodes: readonly Node[]): string[] {
    const present = new Set(nodes.map((n) => n.hostname));
    for (const h of [...this.running.keys(), ...this.announced]) if (!present.has(h)) this.removed(h);
    return nodes.flatMap((n) => this.observe(n));
  }

  /** Notes that gwd asked about a node the coordinator has (so its removal is reported as such later). */
  asked(node: Node): void {
    this.told.set(node.hostname, node);
  }

  /** The last record of a node gwd has heard of in this session, or undefined if gwd never heard of it from us. */
  lastKnown(hostname: string): Node | undefined {
    return this.told.get(hostname);
  }

  private announce(hosts: string[]): string[] {
    for (const h of hosts) {
      this.announced.add(h);
      this.told.set(h, this.running.get(h)!);
    }
    return hosts;
  }
}
