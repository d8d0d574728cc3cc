import type { HostFactsResponse } from '../../shared/gen/vonode/v1/agent.js';
import type { Domain } from '../../shared/gen/vonode/v1/common.js';
import type { HostFactsSource } from '../host/host-facts.js';
import type { HypervisorDriver } from '../hypervisor/hypervisor-driver.js';
import type { ImageCache } from '../images/image-cache.js';
import type { DomainStore } from '../state/domain-store.js';
import { domainToWire } from './wire.js';

/** What the agent reads to describe its host: to callers of HostFacts/ListDomains and to the coordinator. */
export interface HostReportDeps {
  facts: HostFactsSource;
  store: DomainStore;
  driver: HypervisorDriver;
  cache: Pick<ImageCache, 'list' | 'holdings'>;
  stateDir: string;
  version: string;
  /** The peer endpoint, when this agent serves its cache to peers. */
  peer?: { url: string; activePeers(): number };
  /** The host link's speed (config, else the NIC's), Mbit/s; 0 unknown. */
  linkMbit?: number;
}

/** Fresh host facts as the wire message (AgentService.HostFacts, RegisterAgent, Heartbeat). Throws if the facts cannot be read. */
export async function readHostFacts(deps: HostReportDeps): Promise<HostFactsResponse> {
  const [facts, records, domains] = await Promise.all([deps.facts.read(deps.stateDir), deps.store.list(), deps.driver.list()]);
  return {
    hostname: facts.hostname,
    cpus: facts.cpus,
    memoryTotalBytes: facts.memoryTotalBytes,
    memoryAvailableBytes: facts.memoryAvailableBytes,
    memoryCommittedBytes: records.reduce((s, r) => s + r.spec.memoryMb * 1024 ** 2, 0),
    diskTotalBytes: facts.diskTotalBytes,
    diskFreeBytes: facts.diskFreeBytes,
    hypervisor: deps.driver.kind,
    cachedImages: deps.cache.list().map((i) => i.sha256),
    runningDomains: domains.filter((d) => d.state === 'running').length,
    agentVersion: deps.version,
    peerUrl: deps.peer?.url ?? '',
    holdings: deps.cache.holdings(),
    uploadPeers: deps.peer?.activePeers() ?? 0,
    linkMbit: deps.linkMbit ?? 0,
  };
}

/** Every domain record with its hypervisor state, as wire Domains (AgentService.ListDomains, RegisterAgent). */
export async function readDomains(deps: Pick<HostReportDeps, 'store' | 'driver'>): Promise<Domain[]> {
  const states = new Map((await deps.driver.list()).map((d) => [d.name, d.state]));
  const records = await deps.store.list();
  return records.map((r) => domainToWire(r, states.get(r.domainName)));
}
