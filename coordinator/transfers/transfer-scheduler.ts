import type { HostFactsResponse } from '../../shared/gen/vonode/v1/agent.js';

const MBIT = 1e6 / 8;

/** The site's links as the coordinator plans with them (config `transfers`). */
export interface LinkSettings {
  /** The image repository's uplink, Mbit/s. */
  repositoryMbit: number;
  /** A host's link when neither the config nor its facts say, Mbit/s. */
  defaultHostMbit: number;
  /** Declared links per host name, Mbit/s (over the facts). */
  hostMbit: Readonly<Record<string, number>>;
  /** Most downloads one complete holder serves at once (its share of links). */
  peerUploads: number;
  /** A download is admitted only at this rate or more, Mbit/s (below, it waits for a link to free). */
  minRateMbit: number;
}

/** What the scheduler needs of a host. */
export interface TransferHost {
  name: string;
  up: boolean;
  facts: HostFactsResponse | undefined;
}

/** A peer handed to an agent as a source. */
export interface PeerRef {
  hostName: string;
  url: string;
}

/** An admitted download: where from, how fast. */
export interface TransferPlan {
  /** Peers in the order the agent should ask them; the repository is always its last source. */
  peers: PeerRef[];
  /** "repository" or the host name of the primary peer. */
  source: string;
  rateBytesPerSecond: number;
}

/** A download running now. */
export interface ActiveTransfer extends TransferPlan {
  id: string;
  host: string;
  sha256: string;
  sizeBytes: number;
  startedMs: number;
  /** Why it runs: a deployment or a prefetch. */
  purpose: 'deploy' | 'prefetch';
}

export const REPOSITORY = 'repository';
/**
 * Share of a declared link given to image payload: Ethernet, IP, TCP and TLS
 * framing add ~5 % on the wire, so paced payload at 95 % keeps the wire
 * within the link.
 */
export const PAYLOAD_SHARE = 0.95;
// Sources handed to one download: the primary and a few to fall back on if it dies.
const MAX_PEERS = 6;

/**
 * Bandwidth-aware admission of image downloads. Every download is given a
 * primary source and a rate when it is admitted, and the sum of the rates
 * on each declared link (the repository's uplink, each host's uplink and
 * downlink) never exceeds the link: a download that would not get at least
 * `minRateMbit` waits instead. Sources are, in order of preference, a host
 * holding the whole image (at most `peerUploads` downloads each), a host
 * still downloading it (one downstream each, at its own rate: hosts that
 * start together form a pipelined chain, one copy's time end to end), and
 * the repository. The agents pace their reads to the rate they were given,
 * so the plan is what the links carry.
 */
export class TransferScheduler {
  private readonly active = new Map<string, ActiveTransfer>();
  // Start order (several downloads start in one dispatch pass, within one millisecond).
  private readonly order = new Map<string, number>();
  private started = 0;
  // Hosts that finished a download but whose heartbeat does not list the image yet.
  private readonly justCompleted = new Map<string, Set<string>>();

  constructor(
    private readonly settings: LinkSettings,
    private readonly hosts: () => Iterable<TransferHost>,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** The download of `sha256` to `host` if it can start now, or undefined (no link has room). */
  plan(host: string, sha256: string): TransferPlan | undefined {
    // One pass over the hosts and one over the running downloads per call: placement asks this for every
    // deployment that must download, and a site has thousands of hosts.
    const byName = new Map<string, TransferHost>();
    for (const h of this.hosts()) byName.set(h.name, h);
    const uploads = new Map<string, { rate: number; count: number }>();
    let incoming = 0;
    for (const t of this.active.values()) {
      const u = uploads.get(t.source) ?? { rate: 0, count: 0 };
      uploads.set(t.source, { rate: u.rate + t.rateBytesPerSecond, count: u.count + 1 });
      if (t.host === host) incoming += t.rateBytesPerSecond;
    }
    const link = (name: string): number => this.link(name, byName.get(name)?.facts);
    const upFree = (name: string): number => link(name) - (uploads.get(name)?.rate ?? 0);
    const uploadCount = (name: string): number => uploads.get(name)?.count ?? 0;
    const min = this.settings.minRateMbit * MBIT * PAYLOAD_SHARE;
    const downFree = link(host) - incoming;
    if (downFree < min) return undefined;
    const peerUrl = (name: string): string | undefined => {
      const h = byName.get(name);
      return h?.up && h.facts?.peerUrl ? h.facts.peerUrl : undefined;
    };
    const holders = [...byName.values()]
      .filter((h) => h.name !== host && peerUrl(h.name) && this.holds(h, sha256))
      .map((h) => ({ name: h.name, free: upFree(h.name), uploads: uploadCount(h.name) }))
      .sort((a, b) => b.free - a.free);
    // Downloads of this image now, latest first: the nearest upstream has the most recent pieces in flight.
    const fetchers = [...this.active.values()].filter((t) => t.sha256 === sha256 && t.host !== host && peerUrl(t.host)).sort((a, b) => this.order.get(b.id)! - this.order.get(a.id)!);

    let source: string | undefined;
    let rate = 0;
    const holder = holders.find((h) => h.uploads < this.settings.peerUploads && h.free >= min);
    if (holder) {
      source = holder.name;
      rate = Math.min(downFree, holder.free);
    } else {
      const upstream = fetchers.find((f) => uploadCount(f.host) === 0 && upFree(f.host) >= min);
      if (upstream) {
        source = upstream.host;
        rate = Math.min(downFree, upFree(upstream.host), upstream.rateBytesPerSecond);
      } else {
        const repoFree = this.settings.repositoryMbit * MBIT * PAYLOAD_SHARE - (uploads.get(REPOSITORY)?.rate ?? 0);
        if (repoFree >= min) {
          source = REPOSITORY;
          rate = Math.min(downFree, repoFree);
        }
      }
    }
    if (!source || rate < min) return undefined;
    const order = [source, ...holders.map((h) => h.name), ...fetchers.map((f) => f.host)];
    const peers: PeerRef[] = [];
    for (const name of order) {
      const url = peerUrl(name);
      if (name === REPOSITORY || !url || peers.some((p) => p.hostName === name)) continue;
      peers.push({ hostName: name, url });
      if (peers.length >= MAX_PEERS) break;
    }
    return { peers, source, rateBytesPerSecond: Math.floor(rate) };
  }

  /** Records an admitted download. */
  start(id: string, host: string, sha256: string, sizeBytes: number, plan: TransferPlan, purpose: ActiveTransfer['purpose']): ActiveTransfer {
    const t: ActiveTransfer = { id, host, sha256, sizeBytes, startedMs: this.nowMs(), purpose, ...plan };
    this.active.set(id, t);
    this.order.set(id, ++this.started);
    return t;
  }

  /** Ends a download; `completed` when the host now holds the image (it becomes a source at once). */
  end(id: string, completed: boolean): void {
    const t = this.active.get(id);
    if (!t) return;
    this.active.delete(id);
    this.order.delete(id);
    if (completed) {
      const set = this.justCompleted.get(t.host) ?? new Set();
      set.add(t.sha256);
      this.justCompleted.set(t.host, set);
    }
  }

  /** True when a download of `sha256` to `host` runs now. */
  transferring(host: string, sha256: string): boolean {
    for (const t of this.active.values()) if (t.host === host && t.sha256 === sha256) return true;
    return false;
  }

  /** Downloads running now, oldest first. */
  list(): ActiveTransfer[] {
    return [...this.active.values()].sort((a, b) => a.startedMs - b.startedMs);
  }

  get size(): number {
    return this.active.size;
  }

  /** Payload bytes/s a host's link may carry: the config's rate, else its facts', else the default, times PAYLOAD_SHARE. */
  linkBytes(host: string): number {
    for (const h of this.hosts()) if (h.name === host) return this.link(host, h.facts);
    return this.link(host, undefined);
  }

  private link(host: string, facts: HostFactsResponse | undefined): number {
    const mbit = this.settings.hostMbit[host] || facts?.linkMbit || this.settings.defaultHostMbit;
    return mbit * MBIT * PAYLOAD_SHARE;
  }

  private holds(h: TransferHost, sha256: string): boolean {
    const reported = h.facts?.cachedImages.includes(sha256) ?? false;
    const recent = this.justCompleted.get(h.name);
    // Once the heartbeat lists it, the facts speak for the host again.
    if (reported && recent?.delete(sha256) && recent.size === 0) this.justCompleted.delete(h.name);
    return reported || (recent?.has(sha256) ?? false);
  }
}
