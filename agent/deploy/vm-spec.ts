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
  validateImageUrl(`${field}.url`, raw.url ?? '');
  return {
    url: raw.url ?? '',
    sha256: validateSha256(`${field}.sha256`, raw.sha256 ?? ''),
    ...(raw.sizeBytes ? { sizeBytes: raw.sizeBytes } : {}),
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
    hostname: validateHostname(`${prefix}.hostname`, raw.hostname ?? ''),
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
