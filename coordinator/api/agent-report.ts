import { InvalidArgumentError } from '../../shared/errors.js';
import type { HostFactsResponse } from '../../shared/gen/vonode/v1/agent.js';
import type { Domain } from '../../shared/gen/vonode/v1/common.js';
import { validateHostname, validateIntRange, validateIpv4, validateSha256 } from '../../shared/validation.js';

// An agent's report feeds placement (memory, vCPUs, cached images) and crash
// reconciliation (its domains): the coordinator trusts no agent to send sane
// numbers or names, so a report is checked whole before anything uses it.

const PiB = 2 ** 50;
/** Most cached images or domains one report may list (a host holds far fewer). */
const MAX_ITEMS = 10_000;
const MAX_TEXT = 256;

/** Validates host facts from RegisterAgent or Heartbeat. Throws InvalidArgumentError naming the field. */
export function validateHostFacts(field: string, facts: HostFactsResponse | undefined): HostFactsResponse | undefined {
  if (!facts) return undefined;
  validateIntRange(`${field}.cpus`, facts.cpus, 0, 65_536);
  for (const key of ['memoryTotalBytes', 'memoryAvailableBytes', 'memoryCommittedBytes', 'diskTotalBytes', 'diskFreeBytes'] as const) {
    validateIntRange(`${field}.${key}`, facts[key], 0, 1024 * PiB);
  }
  if (facts.memoryAvailableBytes > facts.memoryTotalBytes) throw new InvalidArgumentError(`${field}.memory_available_bytes`, 'is more than memory_total_bytes');
  validateIntRange(`${field}.running_domains`, facts.runningDomains, 0, MAX_ITEMS);
  for (const key of ['hostname', 'hypervisor', 'agentVersion'] as const) text(`${field}.${key}`, facts[key]);
  if (facts.cachedImages.length > MAX_ITEMS) throw new InvalidArgumentError(`${field}.cached_images`, `lists more than ${MAX_ITEMS} images`);
  facts.cachedImages.forEach((sha, i) => validateSha256(`${field}.cached_images[${i}]`, sha));
  if (facts.peerUrl) validatePeerUrl(`${field}.peer_url`, facts.peerUrl);
  validateIntRange(`${field}.upload_peers`, facts.uploadPeers, 0, MAX_ITEMS);
  validateIntRange(`${field}.link_mbit`, facts.linkMbit, 0, 10_000_000);
  if (facts.holdings.length > MAX_ITEMS) throw new InvalidArgumentError(`${field}.holdings`, `lists more than ${MAX_ITEMS} images`);
  facts.holdings.forEach((h, i) => {
    validateSha256(`${field}.holdings[${i}].sha256`, h.sha256);
    validateIntRange(`${field}.holdings[${i}].size_bytes`, h.sizeBytes, 0, 1024 * PiB);
    validateIntRange(`${field}.holdings[${i}].verified_bytes`, h.verifiedBytes, 0, h.sizeBytes);
  });
  return facts;
}

/** A peer endpoint is handed to other agents as a source: only https://host:port. */
function validatePeerUrl(field: string, value: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:' || url.username || url.password || url.pathname !== '/' || url.search || url.hash || value.length > MAX_TEXT) {
    throw new InvalidArgumentError(field, 'must be https://host:port');
  }
}

/** Validates the domains an agent reports at registration (reconciliation adopts or removes by them). */
export function validateReportedDomains(field: string, domains: readonly Domain[]): readonly Domain[] {
  if (domains.length > MAX_ITEMS) throw new InvalidArgumentError(field, `lists more than ${MAX_ITEMS} domains`);
  domains.forEach((d, i) => {
    text(`${field}[${i}].name`, d.name);
    text(`${field}[${i}].driver`, d.driver);
    if (d.leasedIp) validateIpv4(`${field}[${i}].leased_ip`, d.leasedIp);
    if (d.spec) validateHostname(`${field}[${i}].spec.hostname`, d.spec.hostname);
  });
  return domains;
}

function text(field: string, value: string): void {
  if (value.length > MAX_TEXT) throw new InvalidArgumentError(field, `is longer than ${MAX_TEXT} characters`);
  if ([...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) throw new InvalidArgumentError(field, 'holds control characters');
}
