// Host attributes of GridWay's MONITOR replies (DESIGN §6), as gwd's flex
// lexer and bison grammar read them (src/host/gw_host_attr_parser.l and
// gw_host_update_syntax.y in GridWay 5.14): `NAME=int`, `NAME="string"`,
// queue attributes as `NAME[i]=…`. The lexer knows no escapes, so a `"`
// cannot be inside a string; `""` becomes a NULL string in gwd, so empty
// strings are refused too; a float or an unquoted word is a syntax error.

/** One attribute of a MONITOR reply, e.g. `{ name: 'QUEUE_NAME', index: 0, value: 'bio.q' }`. */
export interface HostAttribute {
  /** Attribute name: one of gwd's known names or a generic variable (letter, then letters, digits, _). */
  name: string;
  /** Queue index for queue attributes (`QUEUE_NAME[0]`); absent for host attributes. */
  index?: number;
  /** An integer (gwd reads it with atoi: 32-bit) or a non-empty string without `"` or control characters. */
  value: number | string;
}

/** Thrown when an attribute (or a list of them) would not read back in gwd as meant. */
export class AttributeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttributeError';
  }
}

/** gwd's integer-valued host attributes. */
export const INT_ATTRIBUTES: ReadonlySet<string> = new Set([
  'CPU_MHZ', 'CPU_FREE', 'CPU_SMP', 'NODECOUNT', 'SIZE_MEM_MB', 'FREE_MEM_MB', 'SIZE_DISK_MB', 'FREE_DISK_MB',
  'QUEUE_NODECOUNT', 'QUEUE_FREENODECOUNT', 'QUEUE_MAXTIME', 'QUEUE_MAXCPUTIME', 'QUEUE_MAXCOUNT',
  'QUEUE_MAXRUNNINGJOBS', 'QUEUE_MAXJOBSINQUEUE',
]);

/** gwd's string-valued host attributes. */
export const STRING_ATTRIBUTES: ReadonlySet<string> = new Set([
  'HOSTNAME', 'ARCH', 'OS_NAME', 'OS_VERSION', 'CPU_MODEL', 'FORK_NAME', 'LRMS_NAME', 'LRMS_TYPE',
  'QUEUE_NAME', 'QUEUE_STATUS', 'QUEUE_DISPATCHTYPE', 'QUEUE_PRIORITY',
]);

/** Queue slots gwd keeps per host (GW_HOST_MAX_QUEUES): indexes run 0..66. */
export const MAX_QUEUES = 67;

const NAME = /^[A-Za-z][0-9A-Za-z_]*$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
// Tab, newline, CR and the other control characters: the lexer would not split on them as we mean.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The attribute as written in a reply (`NAME=1`, `NAME[0]="x"`). Throws AttributeError if gwd would misread it. */
export function formatAttribute(attr: HostAttribute): string {
  validateAttribute(attr);
  const key = attr.index === undefined ? attr.name : `${attr.name}[${attr.index}]`;
  return typeof attr.value === 'number' ? `${key}=${attr.value}` : `${key}="${attr.value}"`;
}

/** The attributes as one MONITOR info field, single-space separated. Throws AttributeError. */
export function formatAttributes(attrs: readonly HostAttribute[]): string {
  if (attrs.length === 0) throw new AttributeError('a MONITOR reply needs at least one attribute');
  return attrs.map(formatAttribute).join(' ');
}

/** Checks one attribute against gwd's grammar and the type of its known name. Throws AttributeError. */
export function validateAttribute(attr: HostAttribute): void {
  const { name, index, value } = attr;
  if (!NAME.test(name)) throw new AttributeError(`attribute name "${name}" must be a letter then letters, digits or _`);
  const known = INT_ATTRIBUTES.has(name) || STRING_ATTRIBUTES.has(name);
  const queue = known && name.startsWith('QUEUE_');
  if (index !== undefined && (!Number.isInteger(index) || index < 0 || index >= MAX_QUEUES)) {
    throw new AttributeError(`${name}[${index}]: the queue index must be a whole number from 0 to ${MAX_QUEUES - 1}`);
  }
  if (queue && index === undefined) throw new AttributeError(`${name} is a queue attribute: it needs an index, e.g. ${name}[0]`);
  if (known && !queue && index !== undefined) throw new AttributeError(`${name} is a host attribute: it takes no index`);
  if (typeof value === 'number') {
    if (STRING_ATTRIBUTES.has(name)) throw new AttributeError(`${name} is a string attribute: quote its value`);
    if (!Number.isInteger(value)) throw new AttributeError(`${name}=${value}: gwd reads no floats; round it`);
    if (value < INT32_MIN || value > INT32_MAX) throw new AttributeError(`${name}=${value}: out of gwd's 32-bit integer range`);
    return;
  }
  if (INT_ATTRIBUTES.has(name)) throw new AttributeError(`${name} is an integer attribute, not "${value}"`);
  if (value === '') throw new AttributeError(`${name}: an empty string reads as NULL in gwd; leave the attribute out`);
  if (value.includes('"')) throw new AttributeError(`${name}: a string cannot contain " (gwd's lexer has no escapes)`);
  if (CONTROL.test(value)) throw new AttributeError(`${name}: a string cannot contain newlines, tabs or control characters`);
}

// One attribute at the read position, then one space or the end.
const ITEM = /([A-Za-z][0-9A-Za-z_]*)(?:\[(\d+)\])?=(-?\d+|"[^"]*")( |$)/y;

/**
 * Reads a MONITOR info field back into attributes, with the rules of
 * formatAttribute (so a valid field round-trips). Throws AttributeError
 * naming the first offending column.
 */
export function parseAttributes(info: string): HostAttribute[] {
  if (info === '') throw new AttributeError('a MONITOR reply needs at least one attribute');
  const out: HostAttribute[] = [];
  ITEM.lastIndex = 0;
  while (ITEM.lastIndex < info.length) {
    const at = ITEM.lastIndex;
    const m = ITEM.exec(info);
    if (!m || (m[4] === ' ' && ITEM.lastIndex === info.length)) {
      throw new AttributeError(`column ${at + 1}: expected NAME=int or NAME="string" (single spaces, no floats or bare words): "${info.slice(at, at + 40)}"`);
    }
    const raw = m[3]!;
    const attr: HostAttribute = { name: m[1]!, value: raw.startsWith('"') ? raw.slice(1, -1) : Number(raw) };
    if (m[2] !== undefined) attr.index = Number(m[2]);
    validateAttribute(attr);
    out.push(attr);
  }
  return out;
}
