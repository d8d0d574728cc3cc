import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { DOMAIN_PREFIX } from '../hypervisor/hypervisor-driver.js';
import type { DomainRecord } from '../state/domain-store.js';
import { teardownDomain, type TeardownDeps } from './teardown.js';

/** What recovery found and did at start-up. */
export interface RecoveryReport {
  kept: string[];
  /** Records of interrupted deployments/removals, or whose domain died, torn down. */
  cleaned: string[];
  orphanDomains: string[];
  orphanDhcp: string[];
  orphanDisks: string[];
}

/**
 * Rebuilds the agent's view after a restart or crash: keeps running domains
 * (and re-pins their images), finishes or undoes anything half-made, and
 * removes domains, DHCP entries and instance disks that no record explains.
 */
export async function recover(deps: TeardownDeps & { logger: Logger }, instancesDir: string): Promise<RecoveryReport> {
  const report: RecoveryReport = { kept: [], cleaned: [], orphanDomains: [], orphanDhcp: [], orphanDisks: [] };
  const domains = new Map((await deps.driver.list()).map((d) => [d.name, d.state]));
  const keep = new Set<DomainRecord>();
  for (const record of await deps.store.list()) {
    const state = domains.get(record.domainName);
    const alive = state === 'running' || state === 'paused';
    if (record.status === 'running' && alive) {
      deps.images.pin(record.imageShas);
      keep.add(record);
      report.kept.push(record.hostname);
      continue;
    }
    deps.logger.warn({ hostname: record.hostname, status: record.status, state }, 'tearing down interrupted or dead domain');
    // Pins are in memory only, so after a restart this domain holds none.
    await teardownDomain(deps, record, { releaseImages: false });
    report.cleaned.push(record.hostname);
  }
  const keptDomains = new Set([...keep].map((r) => r.domainName));
  for (const { name } of await deps.driver.list()) {
    if (name.startsWith(DOMAIN_PREFIX) && !keptDomains.has(name)) {
      await deps.driver.destroy(name);
      report.orphanDomains.push(name);
    }
  }
  const keptHosts = new Set([...keep].map((r) => r.hostname));
  for (const r of await deps.dhcp.list()) {
    if (!keptHosts.has(r.hostname)) {
      await deps.dhcp.remove(r.hostname);
      report.orphanDhcp.push(r.hostname);
    }
  }
  const keptDisks = new Set([...keep].map((r) => path.basename(r.overlayPath)));
  for (const file of await readdir(instancesDir).catch(() => [] as string[])) {
    if (!keptDisks.has(file)) {
      await rm(path.join(instancesDir, file), { force: true });
      report.orphanDisks.push(file);
    }
  }
  deps.logger.info(report, 'recovery finished');
  return report;
}
