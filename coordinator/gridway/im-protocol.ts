// GridWay's Information Manager MAD protocol (DESIGN §6; GridWay 5.14
// src/im/gw_im_mad.c and gw_im_listener.c): gwd writes one request per line
// on the MAD's stdin and reads `<ACTION> <hid|-> <SUCCESS|FAILURE> <info>`
// lines from its stdout. Pure: no I/O here, only parsing and formatting.
import { AttributeError, formatAttributes, parseAttributes, type HostAttribute } from './im-attributes.js';

/** The four actions of the protocol. */
export type ImAction = 'INIT' | 'DISCOVER' | 'MONITOR' | 'FINALIZE';

/** The result field of a reply. */
export type ImResult = 'SUCCESS' | 'FAILURE';

/** A request gwd sent, parsed. */
export type ImRequest =
  | { action: 'INIT' }
  | { action: 'DISCOVER' }
  | { action: 'FINALIZE' }
  | { action: 'MONITOR'; hid: string; hostname: string };

/** Why a request line was refused. */
export type RequestErrorReason = 'empty' | 'too-long' | 'unknown-action' | 'field-count' | 'bad-field' | 'bad-hid' | 'bad-host';

/**
 * A request line that is not one of the four forms. `action` is set when the
 * line names a known action, `hid` when it is a MONITOR whose host id is a
 * valid number: then (and only then) a FAILURE reply can be addressed.
 */
export interface RequestError {
  reason: RequestErrorReason;
  message: string;
  action?: ImAction;
  hid?: string;
}

/** Outcome of parseRequest. */
export type ParsedRequest = { ok: true; request: ImRequest } | { ok: false; error: RequestError };

/** A reply line, parsed (parseReply) or to be formatted (formatReply). `info` '' means no info field. */
export interface ImReply {
  action: ImAction;
  hid: string;
  result: ImResult;
  info: string;
}

/** Thrown by the formatters for a reply gwd would misread; the message says what is wrong. */
export class ReplyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyFormatError';
  }
}

/**
 * Longest line without its newline. gwd reads a reply byte by byte into a
 * 65536-byte buffer and stops after 65535 bytes, so the newline must be among
 * them: 65534 bytes of text plus `\n`.
 */
export const MAX_LINE_BYTES = 65_534;

const ACTIONS: ReadonlySet<string> = new Set<ImAction>(['INIT', 'DISCOVER', 'MONITOR', 'FINALIZE']);
const HID = /^\d{1,9}$/;
const HOST = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** True for a hostname gwd can be given: no spaces or quotes, not `-` (gwd would add a host named "-"). */
export function isReportableHostname(name: string): boolean {
  return HOST.test(name);
}

/**
 * Parses one request line (without its newline; a trailing CR is ignored).
 * Fields may be separated by runs of blanks. Never throws.
 */
export function parseRequest(line: string): ParsedRequest {
  const fail = (reason: RequestErrorReason, message: string, action?: ImAction, hid?: string): ParsedRequest => ({
    ok: false,
    error: { reason, message, ...(action ? { action } : {}), ...(hid ? { hid } : {}) },
  });
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const fields = text.trim().split(/[ \t]+/).filter((f) => f !== '');
  const first = fields[0];
  const action = first !== undefined && ACTIONS.has(first) ? (first as ImAction) : undefined;
  if (Buffer.byteLength(text) > MAX_LINE_BYTES) return fail('too-long', `request longer than ${MAX_LINE_BYTES} bytes`, action);
  if (first === undefined) return fail('empty', 'empty request line');
  if (!action) return fail('unknown-action', `unknown action "${first.slice(0, 40)}" (expected INIT, DISCOVER, MONITOR or FINALIZE)`);
  if (action === 'MONITOR') {
    const hid = fields[1] !== undefined && HID.test(fields[1]) ? fields[1] : undefined;
    if (!hid) return fail('bad-hid', `MONITOR needs a numeric host id, not "${(fields[1] ?? '').slice(0, 20)}"`, action);
    if (fields.length !== 4) return fail('field-count', `MONITOR takes 4 fields (MONITOR <hid> <hostname> -), got ${fields.length}`, action, hid);
    const hostname = fields[2]!;
    if (!isReportableHostname(hostname)) return fail('bad-host', `"${hostname.slice(0, 64)}" is not a hostname`, action, hid);
    if (fields[3] !== '-') return fail('bad-field', `the 4th field of MONITOR must be "-"`, action, hid);
    return { ok: true, request: { action, hid, hostname } };
  }
  if (fields.length !== 4) return fail('field-count', `${action} takes 4 fields (${action} - - -), got ${fields.length}`, action);
  if (fields.slice(1).some((f) => f !== '-')) return fail('bad-field', `${action} takes "-" in its other 3 fields`, action);
  return { ok: true, request: { action } };
}

/** Formats and validates a reply line (without newline). Throws ReplyFormatError for a reply gwd would misread. */
export function formatReply(reply: ImReply): string {
  const { action, hid, result, info } = reply;
  if (!ACTIONS.has(action)) throw new ReplyFormatError(`unknown action "${action}"`);
  if (action === 'MONITOR' ? !HID.test(hid) : hid !== '-') {
    throw new ReplyFormatError(action === 'MONITOR' ? `MONITOR reply needs the numeric host id gwd asked about, not "${hid}"` : `${action} replies carry "-" as host id, not "${hid}"`);
  }
  if (result !== 'SUCCESS' && result !== 'FAILURE') throw new ReplyFormatError(`result must be SUCCESS or FAILURE, not "${String(result)}"`);
  if (/[\r\n]/.test(info)) throw new ReplyFormatError('info contains a newline: one reply is one line');
  if (info !== info.trim() || /[ \t]{2}|\t/.test(outsideQuotes(info))) throw new ReplyFormatError('fields are separated by single spaces');
  if (result === 'SUCCESS') checkSuccessInfo(action, info);
  else if (info === '') throw new ReplyFormatError('a FAILURE reply says why');
  const line = info === '' ? `${action} ${hid} ${result}` : `${action} ${hid} ${result} ${info}`;
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) throw new ReplyFormatError(`reply is ${Buffer.byteLength(line)} bytes; gwd reads at most ${MAX_LINE_BYTES}`);
  return line;
}

function checkSuccessInfo(action: ImAction, info: string): void {
  if (action === 'INIT' || action === 'FINALIZE') {
    if (info !== '-') throw new ReplyFormatError(`${action} SUCCESS carries "-" as info`);
  } else if (action === 'DISCOVER') {
    const bad = info === '' ? undefined : info.split(' ').find((h) => !isReportableHostname(h));
    if (bad !== undefined) throw new ReplyFormatError(`DISCOVER lists "${bad.slice(0, 64)}", which is not a reportable hostname (never "-")`);
  } else {
    try {
      parseAttributes(info);
    } catch (e) {
      if (e instanceof AttributeError) throw new ReplyFormatError(`MONITOR attributes: ${e.message}`);
      throw e;
    }
  }
}

function outsideQuotes(info: string): string {
  return info.replace(/"[^"]*"/g, '""');
}

/** `INIT - SUCCESS -`. */
export function initSuccess(): string {
  return formatReply({ action: 'INIT', hid: '-', result: 'SUCCESS', info: '-' });
}

/** `FINALIZE - SUCCESS -`. */
export function finalizeSuccess(): string {
  return formatReply({ action: 'FINALIZE', hid: '-', result: 'SUCCESS', info: '-' });
}

/**
 * `DISCOVER - SUCCESS h1 h2 …`, split over as many lines as the length limit
 * needs (the first answers the request; gwd takes the others as unsolicited
 * discoveries). No host at all gives the single line `DISCOVER - SUCCESS`
 * with no info field: gwd logs "No hosts discovered", whereas a `-` would
 * become a host named "-". Throws ReplyFormatError for an unreportable name.
 */
export function discoverSuccess(hosts: readonly string[]): string[] {
  const bad = hosts.find((h) => !isReportableHostname(h));
  if (bad !== undefined) throw new ReplyFormatError(`DISCOVER cannot list "${bad.slice(0, 64)}": not a reportable hostname (never "-")`);
  const lines: string[] = [];
  let current: string[] = [];
  let bytes = 'DISCOVER - SUCCESS'.length;
  for (const h of hosts) {
    const size = Buffer.byteLength(h) + 1;
    if (current.length > 0 && bytes + size > MAX_LINE_BYTES) {
      lines.push(current.join(' '));
      current = [];
      bytes = 'DISCOVER - SUCCESS'.length;
    }
    current.push(h);
    bytes += size;
  }
  lines.push(current.join(' '));
  return lines.map((info) => formatReply({ action: 'DISCOVER', hid: '-', result: 'SUCCESS', info }));
}

/** `MONITOR <hid> SUCCESS <attrs>`. Throws ReplyFormatError for attributes gwd would misread. */
export function monitorSuccess(hid: string, attrs: readonly HostAttribute[]): string {
  let info: string;
  try {
    info = formatAttributes(attrs);
  } catch (e) {
    if (e instanceof AttributeError) throw new ReplyFormatError(`MONITOR attributes: ${e.message}`);
    throw e;
  }
  return formatReply({ action: 'MONITOR', hid, result: 'SUCCESS', info });
}

/**
 * `<ACTION> <hid|-> FAILURE <message>`; the message is made one line of
 * single-spaced text and shortened to fit. `hid` is required for MONITOR.
 */
export function failureReply(action: ImAction, message: string, hid = '-'): string {
  const room = MAX_LINE_BYTES - `${action} ${hid} FAILURE `.length;
  let text = message.replace(/\s+/g, ' ').trim();
  if (Buffer.byteLength(text) > room) {
    // Cut at a byte boundary; a character cut in half decodes to U+FFFD, dropped with the trailing blanks.
    text = new TextDecoder().decode(Buffer.from(text).subarray(0, room - 2)).replace(/[\uFFFD ]+$/, '');
  }
  text ||= 'failed';
  return formatReply({ action, hid, result: 'FAILURE', info: text });
}

/** Parses and validates a reply line (what gwd's listener would read). Throws ReplyFormatError. */
export function parseReply(line: string): ImReply {
  const m = /^(\S+) (\S+) (\S+)(?: (.*))?$/s.exec(line);
  if (!m) throw new ReplyFormatError(`not "<ACTION> <hid|-> <SUCCESS|FAILURE> [info]": "${line.slice(0, 80)}"`);
  const reply = { action: m[1] as ImAction, hid: m[2]!, result: m[3] as ImResult, info: m[4] ?? '' };
  if (reply.info === '' && m[4] !== undefined) throw new ReplyFormatError('trailing space after the result');
  if (formatReply(reply) !== line) throw new ReplyFormatError(`reply does not read back as written: "${line.slice(0, 80)}"`);
  return reply;
}
