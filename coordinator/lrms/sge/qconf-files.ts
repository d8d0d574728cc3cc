import { InvalidArgumentError } from '../../../shared/errors.js';
import { validateHostname, validateIntRange, validateIpv4 } from '../../../shared/validation.js';

// The files given to `qconf -A…` (one "attribute value" line each) and a
// reader of what `qconf -s…` prints. Every name that reaches a file is
// validated first: a newline or space in a value would add or split an
// attribute.

const QUEUE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const HOSTGROUP = /^@[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Validates a cluster queue name (bio.q): letters, digits, '_', '.', '-', ≤ 64 chars. Throws InvalidArgumentError. */
export function validateQueueName(field: string, value: string): string {
  if (!QUEUE_NAME.test(value)) throw new InvalidArgumentError(field, `"${value}" is not a queue name (letters, digits, '_', '.', '-'; e.g. bio.q)`);
  return value;
}

/** Validates a host group name (@bio). Throws InvalidArgumentError. */
export function validateHostgroup(field: string, value: string): string {
  if (!HOSTGROUP.test(value)) throw new InvalidArgumentError(field, `"${value}" is not a host group name ('@' then letters, digits, '_', '.', '-'; e.g. @bio)`);
  return value;
}

/** The host group of a VO's nodes: `@<vo>`. */
export function voHostgroup(vo: string): string {
  return `@${vo}`;
}

/** An exec host object for `qconf -Ae FILE`: the host, nothing else set. Throws InvalidArgumentError on a bad name. */
export function renderExecHost(hostname: string): string {
  validateHostname('hostname', hostname);
  return [
    `hostname ${hostname}`,
    'load_scaling NONE',
    'complex_values NONE',
    'user_lists NONE',
    'xuser_lists NONE',
    'projects NONE',
    'xprojects NONE',
    'usage_scaling NONE',
    'report_variables NONE',
    '',
  ].join('\n');
}

/** An inclusive range of group ids. */
export interface GidRange {
  first: number;
  last: number;
}

/**
 * The node's own gid_range: `base + (last 16 bits of its IPv4) × size`, so
 * nodes whose addresses differ in the last two octets never share a group id.
 * Throws InvalidArgumentError on a bad address or a range past 2^31.
 */
export function gidRangeFor(ip: string, base: number, size: number): GidRange {
  validateIpv4('ip', ip);
  validateIntRange('gidRangeSize', size, 1, 10_000);
  const [, , c, d] = ip.split('.').map(Number) as [number, number, number, number];
  const first = base + (c * 256 + d) * size;
  validateIntRange('gidRangeBase', first + size - 1, 1, 2 ** 31 - 1);
  return { first, last: first + size - 1 };
}

/**
 * A host-local configuration for `qconf -Aconf FILE` (FILE must be named
 * after the host): its own gid_range. Each execd tags a job's processes with
 * a group id from gid_range and, when the job ends, kills every process
 * carrying that id (ENABLE_ADDGRP_KILL). With the global range, two execds
 * on one kernel (testbed namespaces, or nodes sharing a host kernel) hand out
 * the same id and one node's job end kills the other's job; disjoint ranges
 * per host prevent it.
 */
export function renderHostConfig(range: GidRange): string {
  if (!Number.isInteger(range.first) || !Number.isInteger(range.last) || range.first < 1 || range.last < range.first) {
    throw new InvalidArgumentError('gidRange', `${range.first}-${range.last} is not a range of positive integers`);
  }
  return `gid_range ${range.first}-${range.last}\n`;
}

/** An empty host group for `qconf -Ahgrp FILE`. Throws InvalidArgumentError on a bad name. */
export function renderHostgroup(hostgroup: string): string {
  validateHostgroup('hostgroup', hostgroup);
  return `group_name ${hostgroup}\nhostlist NONE\n`;
}

/** What a VO's cluster queue is made of. */
export interface VoQueueSpec {
  queue: string;
  /** Host group of the VO's nodes (@bio). */
  hostgroup: string;
  /** Host of the placeholder instance (usually the qmaster's): 0 slots, disabled. */
  placeholderHost: string;
  /** Slots of each node's instance unless set per host. Default 1. */
  slots?: number;
}

/**
 * A cluster queue for `qconf -Aq FILE` over the VO's host group plus a
 * placeholder instance on `placeholderHost` with 0 slots, created disabled:
 * a cluster queue without any instance rejects `qsub -q` ("job requests
 * unknown queue"), so the placeholder lets jobs wait in a VO queue before its
 * first node exists, and never runs one. Throws InvalidArgumentError on bad names.
 */
export function renderClusterQueue(spec: VoQueueSpec): string {
  const queue = validateQueueName('queue', spec.queue);
  const hostgroup = validateHostgroup('hostgroup', spec.hostgroup);
  const placeholder = validateHostname('placeholderHost', spec.placeholderHost);
  const slots = validateIntRange('slots', spec.slots ?? 1, 1, 100_000);
  const attributes: [string, string][] = [
    ['qname', queue],
    ['hostlist', `${hostgroup} ${placeholder}`],
    ['seq_no', '0'],
    ['load_thresholds', 'NONE'],
    ['suspend_thresholds', 'NONE'],
    ['nsuspend', '1'],
    ['suspend_interval', '00:05:00'],
    ['priority', '0'],
    ['min_cpu_interval', '00:05:00'],
    ['processors', 'UNDEFINED'],
    ['qtype', 'BATCH INTERACTIVE'],
    ['ckpt_list', 'NONE'],
    ['pe_list', 'NONE'],
    ['rerun', 'FALSE'],
    ['slots', `${slots},[${placeholder}=0]`],
    ['tmpdir', '/tmp'],
    ['shell', '/bin/sh'],
    ['prolog', 'NONE'],
    ['epilog', 'NONE'],
    ['shell_start_mode', 'unix_behavior'],
    ['starter_method', 'NONE'],
    ['suspend_method', 'NONE'],
    ['resume_method', 'NONE'],
    ['terminate_method', 'NONE'],
    ['notify', '00:00:60'],
    ['owner_list', 'NONE'],
    ['user_lists', 'NONE'],
    ['xuser_lists', 'NONE'],
    ['subordinate_list', 'NONE'],
    ['complex_values', 'NONE'],
    ['projects', 'NONE'],
    ['xprojects', 'NONE'],
    ['calendar', 'NONE'],
    // nodes' instances start enabled; the placeholder's disabled, so it is
    // never a candidate even if an execd runs on the qmaster host
    ['initial_state', `default,[${placeholder}=disabled]`],
  ];
  for (const limit of ['rt', 'cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'vmem']) {
    attributes.push([`s_${limit}`, 'INFINITY'], [`h_${limit}`, 'INFINITY']);
  }
  return attributes.map(([key, value]) => `${key.padEnd(20)} ${value}`).join('\n') + '\n';
}

/**
 * The attributes `qconf -sq/-shgrp/-se/-sconf` prints, one per key; joins
 * the lines qconf wraps with a trailing backslash and squeezes whitespace.
 */
export function parseQconfAttributes(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  const joined = text.replace(/\\\r?\n/g, ' ');
  for (const line of joined.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line.trim());
    if (m) attributes.set(m[1]!, m[2]!.replace(/\s+/g, ' ').trim());
  }
  return attributes;
}

/** The entries of a host list attribute ("@bio sge-master", "NONE" → []). Also splits on commas. */
export function hostList(value: string | undefined): string[] {
  if (!value || value === 'NONE') return [];
  return value.split(/[\s,]+/).filter((h) => h && h !== 'NONE');
}
