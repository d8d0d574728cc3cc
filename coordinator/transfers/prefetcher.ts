import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { HostFactsResponse } from '../../shared/gen/vonode/v1/agent.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentClient } from '../../shared/rpc/agent-client.js';
import type { Policy, VoPolicy } from '../policy/policy-schema.js';
import type { TransferScheduler } from './transfer-scheduler.js';

/** A host as the prefetcher sees it. */
export interface PrefetchHost {
  name: string;
  up: boolean;
  facts: HostFactsResponse | undefined;
}

/** What the prefetcher needs of the coordinator. */
export interface PrefetcherDeps {
  policy(): Policy;
  hosts(): Iterable<PrefetchHost>;
  /** Hosts running (or deploying) nodes of each VO: they get a changed image before their nodes are replaced. */
  nodeHosts(vo: string): Iterable<string>;
  /** True while a deployment waits for a download or runs one (`idle` prefetch then stays away from the links). */
  deploymentsNeedLinks(): boolean;
  transfers: TransferScheduler;
  client(host: string): Pick<AgentClient, 'prefetchImage'>;
  clock: Clock;
  logger: Logger;
}

// After a failed prefetch, that host and image are left alone this long.
const RETRY_AFTER_MS = 30_000;

/**
 * Warms VOs' appliances ahead of demand (policy `prefetch`): on every pass it
 * picks, per VO, the hosts placement would choose next (those caching the
 * image first, then the most free memory; or every host), plus the hosts
 * running the VO's nodes (so a changed image is there before the old one's
 * nodes are replaced), and starts a PrefetchImage on each that lacks the
 * image — admitted by the transfer scheduler like a deployment's download,
 * so no link is oversubscribed, and with `when: idle` only while no
 * deployment needs a link. The agents' caches evict least recently used
 * images, never one a running VM uses.
 */
export class Prefetcher {
  private readonly retryAt = new Map<string, number>();

  constructor(private readonly deps: PrefetcherDeps) {}

  /** One pass: starts every prefetch that may start now; returns how many started. */
  pass(): number {
    const { deps } = this;
    let started = 0;
    const hosts = [...deps.hosts()].filter((h) => h.up && h.facts);
    for (const vo of deps.policy().vos) {
      const rule = vo.prefetch;
      if (!rule) continue;
      if (rule.when === 'idle' && deps.deploymentsNeedLinks()) continue;
      for (const host of this.targets(vo, hosts)) {
        const r = this.startOne(vo, host);
        if (r === 'links-full') break;
        if (r === 'started') started++;
      }
    }
    return started;
  }

  /** Hosts that should hold the VO's image: placement's next choices and the hosts of its nodes. */
  private targets(vo: VoPolicy, hosts: PrefetchHost[]): PrefetchHost[] {
    const sha = vo.appliance.disk.sha256;
    const memory = vo.vm.memoryMb * 1024 * 1024;
    const free = (h: PrefetchHost): number => (h.facts!.memoryAvailableBytes ?? 0) - (h.facts!.memoryCommittedBytes ?? 0);
    const ranked = hosts
      .filter((h) => h.facts!.memoryTotalBytes >= memory)
      .sort((a, b) => Number(!a.facts!.cachedImages.includes(sha)) - Number(!b.facts!.cachedImages.includes(sha)) || free(b) - free(a) || a.name.localeCompare(b.name));
    const chosen = vo.prefetch!.hosts === 'all' ? ranked : ranked.slice(0, vo.prefetch!.hosts);
    const names = new Set(chosen.map((h) => h.name));
    for (const name of this.deps.nodeHosts(vo.name)) names.add(name);
    return hosts.filter((h) => names.has(h.name) && !h.facts!.cachedImages.includes(sha));
  }

  private startOne(vo: VoPolicy, host: PrefetchHost): 'started' | 'skipped' | 'links-full' {
    const { deps } = this;
    const disk = vo.appliance.disk;
    const id = `prefetch:${host.name}:${disk.sha256}`;
    if (deps.transfers.transferring(host.name, disk.sha256)) return 'skipped';
    if ((this.retryAt.get(id) ?? 0) > deps.clock.monotonicMs()) return 'skipped';
    const plan = deps.transfers.plan(host.name, disk.sha256);
    if (!plan) return 'links-full';
    deps.transfers.start(id, host.name, disk.sha256, disk.sizeBytes ?? 0, plan, 'prefetch');
    deps.logger.info({ vo: vo.name, host: host.name, sha256: disk.sha256, source: plan.source, rateMbit: (plan.rateBytesPerSecond * 8) / 1e6 }, 'prefetching appliance');
    void this.run(id, vo, host.name, plan).then(
      () => deps.transfers.end(id, true),
      (e: unknown) => {
        deps.transfers.end(id, false);
        this.retryAt.set(id, deps.clock.monotonicMs() + RETRY_AFTER_MS);
        deps.logger.warn({ vo: vo.name, host: host.name, err: errorMessage(e) }, `prefetch failed; retried in ${RETRY_AFTER_MS / 1000} s`);
      },
    );
    return 'started';
  }

  private async run(id: string, vo: VoPolicy, host: string, plan: { peers: { hostName: string; url: string }[]; rateBytesPerSecond: number }): Promise<void> {
    const disk = vo.appliance.disk;
    const image = { url: disk.url, sha256: disk.sha256, sizeBytes: disk.sizeBytes ?? 0, peers: plan.peers, rateBytesPerSecond: plan.rateBytesPerSecond };
    for await (const progress of this.deps.client(host).prefetchImage({ image })) {
      if (progress.done) this.deps.logger.info({ id, vo: vo.name, host, cacheHit: progress.cacheHit, bytes: progress.bytesDone }, 'appliance prefetched');
    }
  }
}
