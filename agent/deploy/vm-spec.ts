import { InvalidArgumentError } from '../../shared/errors.js';
import {
  validateCmdline,
  validateHostname,
  validateImageUrl,
  validateIntRange,
  validateIpv4,
  validateMac,
  validateSha256,
  validateVoName,
} from '../../shared/validation.js';

/** Largest image the agent accepts a size for (size_bytes): 1 TiB, far above any appliance, far below what breaks arithmetic. */
export const MAX_IMAGE_BYTES = 1024 ** 4;
/** Longest image URL (it goes into the cache index, logs and errors). */
const MAX_URL_CHARS = 4096;
/**
 * Longest hostname the agent takes. It names files: the longest is the
 * atomic-write temporary of a simulated domain's file, ".vn-<hostname>.json.<pid>.<8 hex>.tmp",
 * 30 characters more; a file name may have 255 bytes.
 */
export const MAX_AGENT_HOSTNAME = 200;

/** Validates a hostname that will name the agent's files (records, disks, DHCP entries). Throws InvalidArgumentError. */
export function validateAgentHostname(field: string, value: string): string {
  validateHostname(field, value);
  if (value.length > MAX_AGENT_HOSTNAME) throw new InvalidArgumentError(field, `is longer than ${MAX_AGENT_HOSTNAME} characters (it names files on the host)`);
  return value;
}

/** A content-addressed artifact to fetch into the image cache. */
export interface ImageRefSpec {
  url: string;
  sha256: string;
  sizeBytes?: number;
  /** Peer agents to take pieces from before the repository (the coordinator's transfer schedule). */
  peers?: { hostName: string; url: string }[];
  /** The admitted download rate, bytes/s. */
  rateBytesPerSecond?: number;
}

/** A validated request for one VM (the domain form of vonode.v1.VmSpec). */
export interface VmSpec {
  hostname: string;
  ip: string;
  mac: string;
  vo: string;
  disk: ImageRefSpec;
  kernel?: ImageRefSpec;
  initrd?: ImageRefSpec;
  cmdline?: string;
  vcpus: number;
  memoryMb: number;
}

/** Unvalidated input, as it comes off the wire. */
export interface RawVmSpec {
  hostname?: string;
  ip?: string;
  mac?: string;
  vo?: string;
  disk?: RawImageRef | undefined;
  kernel?: RawImageRef | undefined;
  initrd?: RawImageRef | undefined;
  cmdline?: string;
  vcpus?: number;
  memoryMb?: number;
}

/** Unvalidated image reference. */
export interface RawImageRef {
  url?: string;
  sha256?: string;
  sizeBytes?: number;
  peers?: { hostName?: string; url?: string }[];
  rateBytesPerSecond?: number;
}

/** More peers than any schedule names (the coordinator sends a handful). */
const MAX_PEERS = 32;
/** 100 Gbit/s. */
const MAX_RATE_BYTES_PER_SECOND = 12.5e9;

function validatePeers(field: string, raw: RawImageRef['peers']): { hostName: string; url: string }[] {
  const peers = raw ?? [];
  if (peers.length > MAX_PEERS) throw new InvalidArgumentError(field, `lists more than ${MAX_PEERS} peers`);
  return peers.map((p, i) => {
    const hostName = validateAgentHostname(`${field}[${i}].host_name`, p.hostName ?? '');
    const text = p.url ?? '';
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    if (!url || url.protocol !== 'https:' || url.username || url.password || url.pathname !== '/' || url.search || url.hash || text.length > 200) {
      throw new InvalidArgumentError(`${field}[${i}].url`, 'must be a peer endpoint https://host:port');
    }
    return { hostName, url: url.origin };
  });
}

/** Validates an image reference; throws InvalidArgumentError naming `field`. */
export function validateImageRef(field: string, raw: RawImageRef | undefined): ImageRefSpec {
  const ref = validateImage(field, raw);
  if (!ref) throw new InvalidArgumentError(field, 'is required (url and sha256)');
  return ref;
}

function validateImage(field: string, raw: RawImageRef | undefined): ImageRefSpec | undefined {
  if (!raw || (!raw.url && !raw.sha256)) return undefined;
  if ((raw.url ?? '').length > MAX_URL_CHARS) throw new InvalidArgumentError(`${field}.url`, `is longer than ${MAX_URL_CHARS} characters`);
  validateImageUrl(`${field}.url`, raw.url ?? '');
  const sizeBytes = validateIntRange(`${field}.size_bytes`, raw.sizeBytes ?? 0, 0, MAX_IMAGE_BYTES);
  const peers = validatePeers(`${field}.peers`, raw.peers);
  const rate = raw.rateBytesPerSecond ?? 0;
  if (!Number.isFinite(rate) || rate < 0 || rate > MAX_RATE_BYTES_PER_SECOND) throw new InvalidArgumentError(`${field}.rate_bytes_per_second`, `must be between 0 and ${MAX_RATE_BYTES_PER_SECOND}`);
  return {
    url: raw.url ?? '',
    sha256: validateSha256(`${field}.sha256`, raw.sha256 ?? ''),
    ...(sizeBytes ? { sizeBytes } : {}),
    ...(peers.length ? { peers } : {}),
    ...(rate ? { rateBytesPerSecond: rate } : {}),
  };
}

/**
 * Validates every field of a VM request before anything touches a file or a
 * command. Throws InvalidArgumentError naming the first bad field.
 */
export function validateVmSpec(raw: RawVmSpec, prefix = 'vm'): VmSpec {
  const disk = validateImage(`${prefix}.disk`, raw.disk);
  if (!disk) throw new InvalidArgumentError(`${prefix}.disk`, 'is required (url and sha256)');
  const kernel = validateImage(`${prefix}.kernel`, raw.kernel);
  const initrd = validateImage(`${prefix}.initrd`, raw.initrd);
  if (initrd && !kernel) throw new InvalidArgumentError(`${prefix}.initrd`, 'needs a kernel');
  if (raw.cmdline && !kernel) throw new InvalidArgumentError(`${prefix}.cmdline`, 'needs a kernel');
  return {
    hostname: validateAgentHostname(`${prefix}.hostname`, raw.hostname ?? ''),
    ip: validateIpv4(`${prefix}.ip`, raw.ip ?? ''),
    mac: validateMac(`${prefix}.mac`, raw.mac ?? ''),
    vo: validateVoName(`${prefix}.vo`, raw.vo ?? ''),
    disk,
    ...(kernel ? { kernel } : {}),
    ...(initrd ? { initrd } : {}),
    ...(raw.cmdline ? { cmdline: validateCmdline(`${prefix}.cmdline`, raw.cmdline) } : {}),
    vcpus: validateIntRange(`${prefix}.vcpus`, raw.vcpus ?? 0, 1, 256),
    memoryMb: validateIntRange(`${prefix}.memory_mb`, raw.memoryMb ?? 0, 32, 4 * 1024 * 1024),
  };
}
