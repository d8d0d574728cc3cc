import { isIPv4 } from 'node:net';
import path from 'node:path';
import { InvalidArgumentError } from './errors.js';

// Everything below guards values that end up in config files (dnsmasq host
// files, dhcpd.conf, xl.cfg, domain XML) or in command arguments: a value that
// passes cannot break out of its field in any of those formats.

const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const SHA256 = /^[0-9a-f]{64}$/;
/**
 * The one VO-name rule of vonode (policy keys, API requests, VM specs, batch
 * queue objects): a lowercase letter, then up to 30 of a-z, 0-9 and '-'.
 * The policy schema has always applied it (no '_', ≤ 31 chars) and the
 * policies in use follow it, so the API and the agents apply it too.
 */
export const VO_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

/** Validates an RFC 1123 hostname (lowercase, ≤ 253 chars); returns it. Throws InvalidArgumentError. */
export function validateHostname(field: string, value: string): string {
  if (!value) throw new InvalidArgumentError(field, 'is empty');
  if (value.length > 253) throw new InvalidArgumentError(field, 'is longer than 253 characters');
  for (const label of value.split('.')) {
    if (!HOSTNAME_LABEL.test(label)) {
      throw new InvalidArgumentError(field, `"${value}" is not a hostname (lowercase letters, digits, '-', dots between labels)`);
    }
  }
  return value;
}

/** Validates a unicast, colon-separated MAC; returns it lowercased. Throws InvalidArgumentError. */
export function validateMac(field: string, value: string): string {
  const mac = value.toLowerCase();
  if (!MAC.test(mac)) throw new InvalidArgumentError(field, `"${value}" is not a MAC address like 52:54:00:12:34:56`);
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new InvalidArgumentError(field, `"${value}" is a multicast MAC`);
  return mac;
}

/** Validates a dotted IPv4 address; returns it. Throws InvalidArgumentError. */
export function validateIpv4(field: string, value: string): string {
  if (!isIPv4(value)) throw new InvalidArgumentError(field, `"${value}" is not an IPv4 address`);
  return value;
}

/** Validates a lowercase hex sha256 digest; returns it lowercased. Throws InvalidArgumentError. */
export function validateSha256(field: string, value: string): string {
  const digest = value.toLowerCase();
  if (!SHA256.test(digest)) throw new InvalidArgumentError(field, 'must be 64 hex characters (sha256)');
  return digest;
}

/** Why `value` is not a VO name (VO_NAME_PATTERN), or undefined if it is one; the one message of that rule. */
export function voNameProblem(value: string): string | undefined {
  if (VO_NAME_PATTERN.test(value)) return undefined;
  const shown = value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
  return `${shown} is not a VO name: use a lowercase letter then up to 30 of a-z, 0-9, - (e.g. bio, fusion-2)`;
}

/** Validates a VO name (VO_NAME_PATTERN: lowercase letter first, ≤ 31 chars, no '_'). Throws InvalidArgumentError naming `field`. */
export function validateVoName(field: string, value: string): string {
  const problem = voNameProblem(value);
  if (problem) throw new InvalidArgumentError(field, problem);
  return value;
}

/** Validates an http(s) or file URL for an image. Throws InvalidArgumentError. */
export function validateImageUrl(field: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(field, `"${value}" is not a URL`);
  }
  if (!['http:', 'https:', 'file:'].includes(url.protocol)) {
    throw new InvalidArgumentError(field, `scheme ${url.protocol} is not supported (use http, https or file)`);
  }
  return url;
}

/** Validates an absolute, normalized path free of characters that config formats treat specially. */
export function validateSafePath(field: string, value: string): string {
  if (!path.isAbsolute(value)) throw new InvalidArgumentError(field, `"${value}" is not an absolute path`);
  if (path.normalize(value) !== value) throw new InvalidArgumentError(field, `"${value}" is not normalized`);
  if (!/^[A-Za-z0-9._/+@-]+$/.test(value)) throw new InvalidArgumentError(field, `"${value}" has characters outside [A-Za-z0-9._/+@-]`);
  return value;
}

/** Validates an integer within [min, max]. Throws InvalidArgumentError. */
export function validateIntRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Validates free text that is placed on a kernel command line or in quotes. */
export function validateCmdline(field: string, value: string): string {
  if (value.length > 1024) throw new InvalidArgumentError(field, 'is longer than 1024 characters');
  if (!/^[A-Za-z0-9 ._/=,:+@-]*$/.test(value)) throw new InvalidArgumentError(field, 'has characters outside [A-Za-z0-9 ._/=,:+@-]');
  return value;
}

const OPERATION_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Validates a caller's operation id: a UUID or any [A-Za-z0-9-]{1,64} (it
 * goes into domain records, phase events and log lines, and must never be
 * able to become a path or break a line). '' passes when `allowEmpty` (the
 * agent then generates one). Throws InvalidArgumentError.
 */
export function validateOperationId(field: string, value: string, allowEmpty = true): string {
  if (value === '' && allowEmpty) return value;
  if (!OPERATION_ID.test(value)) throw new InvalidArgumentError(field, 'must be a UUID or 1 to 64 of A-Z, a-z, 0-9 and -');
  return value;
}
