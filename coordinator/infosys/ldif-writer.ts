import { InvalidArgumentError } from '../../shared/errors.js';

// LDIF content records (RFC 2849) and DNs (RFC 4514) for the BDII provider.
// Everything is checked and escaped here so the GLUE builders cannot emit a
// line that breaks out of its attribute or entry. Lines are not folded: BDII
// unfolds anyway, and unfolded lines stay greppable.

/** One attribute value: text, or a whole number written in decimal. */
export type LdifValue = string | number;

/** One LDIF entry: its DN and its attributes in output order (repeat a name for more values). */
export interface LdifEntry {
  dn: string;
  attributes: ReadonlyArray<readonly [name: string, value: LdifValue]>;
}

// RFC 2849 SAFE-STRING: a SAFE-INIT-CHAR (7-bit; not NUL, LF, CR, SPACE, ':'
// or '<') then SAFE-CHARs (7-bit; not NUL, LF or CR). A value ending with a
// space SHOULD be base64 too (RFC 2849 note 8), or trimming readers lose it.
// Stricter here: any control character (TAB, DEL …) is base64 as well, so
// every plain line is printable ASCII whatever tool reads it.
const UNSAFE_INIT = new Set([0x20, 0x3a, 0x3c]);
const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9-]*$/;
// RFC 4514 §2.4: these are backslash-escaped anywhere in an attribute value.
const DN_SPECIAL = new Set(['"', '+', ',', ';', '<', '>', '\\', '=']);

/** Whether `text` may follow `name: ` as it is (printable ASCII RFC 2849 SAFE-STRING, no trailing space). */
export function isSafeLdifString(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || (i === 0 && UNSAFE_INIT.has(c))) return false;
  }
  return !text.endsWith(' ');
}

/** Throws unless `text` is well-formed UTF-16 (a lone surrogate cannot be encoded as UTF-8). */
function checkWellFormed(field: string, text: string): void {
  if (Buffer.from(text, 'utf8').toString('utf8') !== text) throw new InvalidArgumentError(field, 'contains a lone UTF-16 surrogate');
}

/**
 * One `name: value` line (no newline), base64 (`name:: …`) when the value is
 * not a SAFE-STRING. Throws InvalidArgumentError for a bad attribute name, an
 * empty string (LDAP has no empty directory strings) or a number that is not
 * a safe integer.
 */
export function ldifLine(name: string, value: LdifValue): string {
  if (!ATTRIBUTE_NAME.test(name)) throw new InvalidArgumentError('attribute name', `"${name}" is not an LDAP attribute name`);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(name, `${value} is not a whole number`);
    return `${name}: ${value}`;
  }
  if (value === '') throw new InvalidArgumentError(name, 'is empty');
  checkWellFormed(name, value);
  return isSafeLdifString(value) ? `${name}: ${value}` : `${name}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

/** The `dn:` line of an entry (base64 `dn::` when the DN is not a SAFE-STRING). Throws InvalidArgumentError for an empty DN. */
export function dnLine(dn: string): string {
  if (dn === '') throw new InvalidArgumentError('dn', 'is empty');
  checkWellFormed('dn', dn);
  return isSafeLdifString(dn) ? `dn: ${dn}` : `dn:: ${Buffer.from(dn, 'utf8').toString('base64')}`;
}

/**
 * LDIF content records, each followed by an empty line (so two outputs can be
 * concatenated). Deterministic: the same entries give the same bytes. Throws
 * InvalidArgumentError for an invalid name or value (see ldifLine).
 */
export function formatLdif(entries: readonly LdifEntry[]): string {
  return entries.map((e) => [dnLine(e.dn), ...e.attributes.map(([n, v]) => ldifLine(n, v)), '', ''].join('\n')).join('');
}

/**
 * An RDN attribute value escaped per RFC 4514: `"+,;<>\=` get a backslash, a
 * leading space or `#` and a trailing space too, NUL becomes `\00`.
 */
export function escapeDnValue(value: string): string {
  const chars = [...value];
  return chars
    .map((c, i) => {
      if (c === '\0') return '\\00';
      if (DN_SPECIAL.has(c)) return `\\${c}`;
      if (c === ' ' && (i === 0 || i === chars.length - 1)) return '\\ ';
      if (c === '#' && i === 0) return '\\#';
      return c;
    })
    .join('');
}

/** `name=value` with the value escaped (RFC 4514). Throws InvalidArgumentError for a bad name or an empty value. */
export function rdn(name: string, value: string): string {
  if (!ATTRIBUTE_NAME.test(name)) throw new InvalidArgumentError('attribute name', `"${name}" is not an LDAP attribute name`);
  if (value === '') throw new InvalidArgumentError(name, 'is empty');
  return `${name}=${escapeDnValue(value)}`;
}

/**
 * Checks a DN written by hand (e.g. a suffix option): `name=value` RDNs joined
 * by commas, values non-empty, backslash escapes complete (RFC 4514). Returns
 * it unchanged. Throws InvalidArgumentError naming `field`.
 */
export function validateDn(field: string, dn: string): string {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(field, `"${dn}" is not a DN (${why}); write it like GLUE2GroupID=resource,o=glue`);
  };
  if (dn.trim() === '') bad('empty');
  checkWellFormed(field, dn);
  let i = 0;
  while (i < dn.length) {
    const eq = dn.indexOf('=', i);
    if (eq < 0) bad('an RDN has no "="');
    const name = dn.slice(i, eq).trim();
    if (!ATTRIBUTE_NAME.test(name) && !/^\d+(\.\d+)+$/.test(name)) bad(`"${name}" is not an attribute name`);
    let j = eq + 1;
    let value = '';
    for (; j < dn.length && dn[j] !== ',' && dn[j] !== '+'; j++) {
      if (dn[j] === '\\') {
        const next = dn.slice(j + 1, j + 3);
        if (/^[0-9a-fA-F]{2}$/.test(next)) j += 2;
        else if (j + 1 < dn.length && /[ "#+,;<=>\\]/.test(dn[j + 1]!)) j += 1;
        else bad('incomplete backslash escape');
        value += 'x';
      } else if (/["<>;]/.test(dn[j]!)) {
        bad(`unescaped ${dn[j]}`);
      } else {
        value += dn[j];
      }
    }
    if (value.trim() === '') bad(`${name} has an empty value`);
    i = j + 1;
    if (j < dn.length && i >= dn.length) bad('ends with a separator');
  }
  return dn;
}
