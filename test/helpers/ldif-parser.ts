// A small, strict reader of LDIF content records (RFC 2849) and DNs (RFC 4514)
// for tests: enough to read back what coordinator/infosys writes and what
// ldapsearch prints, independently of the writer's code.

/** One parsed entry: DN as written, attributes by lowercase name, values in order. */
export interface ParsedEntry {
  dn: string;
  attrs: Map<string, string[]>;
}

/** Parses LDIF content records; throws on anything it does not understand. */
export function parseLdif(text: string): ParsedEntry[] {
  // Unfold: a line starting with one space continues the previous line.
  const lines = text.replace(/\r\n/g, '\n').replace(/\n /g, '').split('\n');
  const entries: ParsedEntry[] = [];
  let current: ParsedEntry | undefined;
  for (const [i, line] of lines.entries()) {
    if (line === '') {
      current = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([A-Za-z][A-Za-z0-9-]*(?:;[A-Za-z0-9-]+)*)(::?) ?(.*)$/.exec(line);
    if (!m) throw new Error(`LDIF line ${i + 1} is not "name: value": ${JSON.stringify(line)}`);
    const [, name, sep, raw] = m as unknown as [string, string, string, string];
    if (sep === ':' && /[^\x20-\x7e]/.test(raw)) throw new Error(`LDIF line ${i + 1}: unsafe value not base64-encoded`);
    if (sep === ':' && (raw.startsWith(' ') || raw.startsWith(':') || raw.startsWith('<'))) throw new Error(`LDIF line ${i + 1}: value must be base64`);
    const value = sep === '::' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    if (!current) {
      if (name.toLowerCase() !== 'dn') throw new Error(`LDIF line ${i + 1}: an entry must start with dn:, not ${name}`);
      current = { dn: value, attrs: new Map() };
      entries.push(current);
      continue;
    }
    const key = name.toLowerCase();
    current.attrs.set(key, [...(current.attrs.get(key) ?? []), value]);
  }
  return entries;
}

/** The RDNs of a DN, each as [attribute (lowercase), unescaped value]; throws on a malformed DN. */
export function parseDn(dn: string): Array<[string, string]> {
  const rdns: Array<[string, string]> = [];
  let i = 0;
  while (i < dn.length) {
    const eq = dn.indexOf('=', i);
    if (eq < 0) throw new Error(`malformed DN ${dn}`);
    const name = dn.slice(i, eq).trim().toLowerCase();
    let value = '';
    let j = eq + 1;
    for (; j < dn.length && dn[j] !== ','; j++) {
      if (dn[j] !== '\\') {
        value += dn[j];
        continue;
      }
      const hex = dn.slice(j + 1, j + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        value += String.fromCharCode(parseInt(hex, 16));
        j += 2;
      } else {
        value += dn[j + 1];
        j += 1;
      }
    }
    rdns.push([name, value]);
    i = j + 1;
  }
  return rdns;
}

/** The DN as a comparable key: attribute names lowercased, values unescaped, no spaces around separators. */
export function dnKey(dn: string): string {
  return JSON.stringify(parseDn(dn));
}

/** The parent DN key of a DN (drops the first RDN). */
export function parentKey(dn: string): string {
  return JSON.stringify(parseDn(dn).slice(1));
}

/** The single value of `name` in an entry; throws if it has none or several. */
export function single(entry: ParsedEntry, name: string): string {
  const values = entry.attrs.get(name.toLowerCase()) ?? [];
  if (values.length !== 1) throw new Error(`${entry.dn}: expected one ${name}, found ${values.length}`);
  return values[0]!;
}
