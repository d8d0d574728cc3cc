/** What placement needs to know of a host. */
export interface PlacementHost {
  name: string;
  up: boolean;
  cpus: number;
  memoryAvailableBytes: number;
  /** sha256 of images the host's cache holds. */
  cachedImages: readonly string[];
  /** Memory and vCPUs promised to deployments placed there but not yet visible in its facts. */
  pendingMemoryBytes: number;
  pendingVcpus: number;
  /** vCPUs of the vonode VMs it already runs. */
  committedVcpus: number;
  /** True while a deployment holds the host's queue (one at a time per host). */
  busy: boolean;
  /** A deployment attempt failed there lately (host-side cause): other idle hosts are tried first. */
  failedRecently: boolean;
}

/** The VM to place. */
export interface PlacementRequest {
  memoryMb: number;
  vcpus: number;
  imageSha256: string;
  /** Hosts to avoid (earlier attempts failed there). */
  exclude: ReadonlySet<string>;
  /** Only this host ('' = any). */
  pinnedHost: string;
}

/** Why no host was chosen, for the operation's status. */
export type PlacementOutcome = { host: string; reason?: undefined; waitForBusy?: undefined } | { host: undefined; reason: string; waitForBusy: boolean };

/** How many vCPUs a host may promise per physical CPU (VMs of batch jobs rarely all peak at once; the agent admits by memory). */
export const VCPU_OVERCOMMIT = 4;

/** True if the VM fits the host's free memory, and its vCPUs fit the host's CPUs (overcommitted by VCPU_OVERCOMMIT). */
export function fits(h: PlacementHost, r: PlacementRequest): boolean {
  const memoryOk = h.memoryAvailableBytes - h.pendingMemoryBytes >= r.memoryMb * 1024 * 1024;
  return memoryOk && r.vcpus <= h.cpus && h.committedVcpus + h.pendingVcpus + r.vcpus <= h.cpus * VCPU_OVERCOMMIT;
}

/**
 * Chooses a host for one VM: up, not excluded, fitting memory and CPU, and
 * not busy. A host where an attempt failed lately is held back while any
 * other fitting host is up (a host whose hypervisor just failed would fail
 * the next VM too, costing it an attempt; the others free up at their next
 * VMB end, so waiting is short); it is used when it is the only fitting one.
 * Among the rest, hosts that already cache the appliance come first (PT
 * drops to ~0), then the one with the most free memory (spreads load).
 * When every fitting host is busy the outcome says to wait, not to fail.
 */
export function chooseHost(hosts: readonly PlacementHost[], r: PlacementRequest): PlacementOutcome {
  const candidates = hosts.filter((h) => h.up && !r.exclude.has(h.name) && (!r.pinnedHost || h.name === r.pinnedHost));
  if (candidates.length === 0) {
    const reason = r.pinnedHost ? `host ${r.pinnedHost} is not up (or failed this deployment before)` : 'no agent is up (all hosts down or excluded after failures)';
    return { host: undefined, reason, waitForBusy: false };
  }
  const anyFitting = candidates.filter((h) => fits(h, r));
  const healthy = anyFitting.filter((h) => !h.failedRecently);
  const fitting = healthy.length > 0 ? healthy : anyFitting;
  if (fitting.length === 0) {
    return { host: undefined, reason: `no host has ${r.memoryMb} MiB and ${r.vcpus} vCPU free`, waitForBusy: candidates.some((h) => h.busy || h.pendingMemoryBytes > 0) };
  }
  // One pass for the best idle host (called for every queued deployment: no sort).
  let best: PlacementHost | undefined;
  let bestScore: Score = [Infinity, Infinity];
  for (const h of fitting) {
    if (h.busy) continue;
    const score: Score = [h.cachedImages.includes(r.imageSha256) ? 0 : 1, -(h.memoryAvailableBytes - h.pendingMemoryBytes)];
    if (score[0] < bestScore[0] || (score[0] === bestScore[0] && (score[1] < bestScore[1] || (score[1] === bestScore[1] && best !== undefined && h.name < best.name)))) {
      best = h;
      bestScore = score;
    }
  }
  if (!best) return { host: undefined, reason: 'every fitting host is busy with another deployment', waitForBusy: true };
  return { host: best.name };
}

/** Placement order of an idle host: lower is better, compared left to right. */
type Score = [notCached: number, negativeFreeMemory: number];
