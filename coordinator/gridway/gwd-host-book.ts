import { NodeState, type Node } from '../../shared/gen/vonode/v1/coordinator.js';
import { isReportableHostname } from './im-protocol.js';

/** What to tell gwd about one node: DISCOVER a host it may not know, or MONITOR a host id it gave us. */
export type GwdPush = { kind: 'discover'; hostname: string } | { kind: 'monitor'; hostname: string; hid: string };

/**
 * What this gwd session knows about vonode nodes, and so what to push:
 *
 * - `hids`: gwd's host id of each hostname, learned from gwd's own MONITOR
 *   requests (never made up: gwd dies on a MONITOR for an id it does not
 *   have). gwd keeps a host and its id for ever, and a pool hostname is
 *   reused by later nodes: for such a host a DISCOVER only marks it
 *   discovered again and gwd would wait out MONITORING_INTERVAL (180 s by
 *   default) before asking for its attributes, so a node that becomes
 *   running (or leaves) on a host with a known id is pushed as a MONITOR
 *   reply with its attributes instead, applied by gwd at once.
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
  private readonly hids = new Map<string, string>();
  private readonly schedulable = new Set<string>();
  private open = false;

  /** Marks that the coordinator was told gwd can schedule on this node; false if it already was (this incarnation). */
  markSchedulable(hostname: string): boolean {
    if (this.schedulable.has(hostname)) return false;
    this.schedulable.add(hostname);
    return true;
  }

  /** gwd asked MONITOR `hid` for `hostname`: from now on its changes can be pushed to that id. Returns true if it is new. */
  learn(hostname: string, hid: string): boolean {
    if (this.hids.get(hostname) === hid) return false;
    this.hids.set(hostname, hid);
    return true;
  }

  /** Ids gwd gave in an earlier session of this MAD (same gwd process): known again. */
  remember(ids: ReadonlyMap<string, string>): void {
    for (const [hostname, hid] of ids) this.hids.set(hostname, hid);
  }

  /** Every id gwd gave, by hostname. */
  ids(): ReadonlyMap<string, string> {
    return this.hids;
  }

  /** gwd's id of a host, if gwd told us. */
  hidOf(hostname: string): string | undefined {
    return this.hids.get(hostname);
  }

  /** How to tell gwd about each of `hostnames` (MONITOR where its id is known, else DISCOVER). */
  pushesFor(hostnames: readonly string[]): GwdPush[] {
    return hostnames.map((hostname) => {
      const hid = this.hids.get(hostname);
      return hid === undefined ? { kind: 'discover', hostname } : { kind: 'monitor', hostname, hid };
    });
  }

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
      const wasAnnounced = this.announced.has(host);
      this.schedulable.delete(host);
      this.running.delete(host);
      this.announced.delete(host);
      // Leaving (draining, removing): a host gwd has an id for is told at once that it has no free node.
      return wasAnnounced && this.hids.has(host) ? [host] : [];
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
    this.schedulable.delete(hostname);
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
