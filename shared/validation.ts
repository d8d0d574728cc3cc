import { isIPv4 } from 'node:net';
import path from 'node:path';
import { InvalidArgumentError } from './errors.js';

// Everything below guards values that end up in config files (dnsmasq host
// files, dhcpd.conf, xl.cfg, domain XML) or in command arguments: a value that
// passes cannot break out of its field in any of those formats.

const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const VO_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

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

/** Validates a VO name (lowercase, starts with a letter, ≤ 32 chars). Throws InvalidArgumentError. */
export function validateVoName(field: string, value: string): string {
  if (!VO_NAME.test(value)) throw new InvalidArgumentError(field, `"${value}" is not a VO name (a-z, 0-9, '_', '-'; starts with a letter)`);
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
