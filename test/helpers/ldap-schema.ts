import { existsSync, readFileSync } from 'node:fs';
import type { ParsedEntry } from './ldif-parser.js';

// Reads OpenLDAP schema files (the `attributetype ( … )` / `objectclass ( … )`
// format of /etc/ldap/schema/*.schema) well enough to check LDIF entries
// against the real GLUE schemas in unit tests, without slapd.

/** An attribute type: whether it is single-valued and if its syntax is INTEGER. */
export interface AttributeType {
  name: string;
  singleValue: boolean;
  integer: boolean;
}

/** An object class with its superclass and own MUST/MAY attributes (lowercase names). */
export interface ObjectClass {
  name: string;
  sup?: string;
  must: string[];
  may: string[];
}

/** The classes and attribute types of some schema files, by lowercase name. */
export interface LdapSchema {
  attributes: Map<string, AttributeType>;
  classes: Map<string, ObjectClass>;
}

const INTEGER_SYNTAX = '1.3.6.1.4.1.1466.115.121.1.27';

function tokenize(text: string): string[] {
  return text.match(/'[^']*'|\(|\)|\$|[^\s()$']+/g) ?? [];
}

/** A parenthesised list or a single word after a keyword, names unquoted and lowercased. */
function names(tokens: string[], at: number): string[] {
  const unq = (t: string): string => t.replace(/^'|'$/g, '').toLowerCase();
  if (tokens[at] !== '(') return [unq(tokens[at]!)];
  const out: string[] = [];
  for (let i = at + 1; tokens[i] !== ')' && i < tokens.length; i++) if (tokens[i] !== '$') out.push(unq(tokens[i]!));
  return out;
}

/** Parses OpenLDAP schema files (missing files are an error). */
export function readSchema(files: readonly string[]): LdapSchema {
  const schema: LdapSchema = { attributes: new Map(), classes: new Map() };
  for (const file of files) {
    const text = readFileSync(file, 'utf8').replace(/^#.*$/gm, '');
    for (const def of text.split(/\b(?=(?:attributetype|objectclass)\s*\()/i)) {
      const kind = /^(attributetype|objectclass)/i.exec(def)?.[1]?.toLowerCase();
      if (!kind) continue;
      const t = tokenize(def);
      const at = (kw: string): number => t.findIndex((x) => x.toUpperCase() === kw);
      const name = names(t, at('NAME') + 1)[0]!;
      if (kind === 'attributetype') {
        const syntax = at('SYNTAX') >= 0 ? t[at('SYNTAX') + 1]!.replace(/\{\d+\}$/, '') : '';
        schema.attributes.set(name, { name, singleValue: at('SINGLE-VALUE') >= 0, integer: syntax === INTEGER_SYNTAX });
      } else {
        const sup = at('SUP') >= 0 ? names(t, at('SUP') + 1)[0] : undefined;
        schema.classes.set(name, {
          name,
          ...(sup ? { sup } : {}),
          must: at('MUST') >= 0 ? names(t, at('MUST') + 1) : [],
          may: at('MAY') >= 0 ? names(t, at('MAY') + 1) : [],
        });
      }
    }
  }
  return schema;
}

/** The schema files if all are installed (Debian glue-schema), else undefined (tests skip). */
export function installedSchema(files: readonly string[]): LdapSchema | undefined {
  return files.every((f) => existsSync(f)) ? readSchema(files) : undefined;
}

/**
 * Problems of one entry against the schema: unknown classes or attributes,
 * missing MUST attributes, attributes no class of the entry allows,
 * single-valued attributes with several values, non-integer INTEGER values.
 */
export function schemaProblems(schema: LdapSchema, entry: ParsedEntry): string[] {
  const problems: string[] = [];
  const must = new Set<string>();
  const allowed = new Set<string>(['objectclass']);
  for (const oc of entry.attrs.get('objectclass') ?? []) {
    let c = schema.classes.get(oc.toLowerCase());
    if (!c) problems.push(`unknown objectClass ${oc}`);
    for (; c; c = c.sup ? schema.classes.get(c.sup) : undefined) {
      c.must.forEach((a) => (must.add(a), allowed.add(a)));
      c.may.forEach((a) => allowed.add(a));
    }
  }
  for (const m of must) if (!entry.attrs.has(m)) problems.push(`missing MUST ${m}`);
  for (const [name, values] of entry.attrs) {
    if (name === 'objectclass') continue;
    const type = schema.attributes.get(name);
    if (!type) problems.push(`unknown attribute ${name}`);
    if (!allowed.has(name)) problems.push(`attribute ${name} not allowed by the entry's classes`);
    if (type?.singleValue && values.length > 1) problems.push(`${name} is SINGLE-VALUE but has ${values.length}`);
    if (type?.integer) for (const v of values) if (!/^-?\d+$/.test(v)) problems.push(`${name}: "${v}" is not an INTEGER`);
  }
  return problems;
}
