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
  return {
    url: raw.url ?? '',
    sha256: validateSha256(`${field}.sha256`, raw.sha256 ?? ''),
    ...(sizeBytes ? { sizeBytes } : {}),
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
