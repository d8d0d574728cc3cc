import fc from 'fast-check';
import { stringify } from 'yaml';

/** Values that have broken config loaders: wrong types, out-of-range numbers, units that overflow, traversal. */
function hostileValue(canaryDir: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom<unknown>(
      null, true, [], {}, '', -1, 0, 1e308, -1e308, 2 ** 64, Number.MAX_SAFE_INTEGER + 2, 0.5,
      '99999999TiB', '99999999999999999999TiB', '1e400s', '-5s', '0s', 'NaN', 'Infinity', '10 parsecs', '1.5.3s',
      '../../etc/passwd', `${canaryDir}/planted`, `file://${canaryDir}/planted`, 'relative/path', '/etc/shadow', '/',
      'a\nb', 'x'.repeat(5000), '; rm -rf /', '$(touch x)', '127.0.0.1:99999', 'host:port', 'unix:relative', '🐛',
      { nested: { deeper: [1, 2, { x: 'y' }] } }, ['a', 'b'], [null], { '': '' }, { __proto__: { polluted: true } }, { constructor: { prototype: { polluted: true } } },
    ),
    fc.string({ maxLength: 30 }),
    fc.integer(),
    fc.double(),
  );
}

/** Every path to a leaf (or an empty container) of a plain object. */
function leafPaths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) return value.length ? value.flatMap((v, i) => leafPaths(v, [...prefix, i])) : [prefix];
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length ? entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k])) : [prefix];
  }
  return [prefix];
}

type Edit = { kind: 'set' | 'delete' | 'add'; at: number; value: unknown; key: string };

function applyEdit(root: unknown, paths: Array<Array<string | number>>, edit: Edit): unknown {
  const target = paths[edit.at % paths.length]!;
  if (target.length === 0) return edit.kind === 'set' ? edit.value : root;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const k of target.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = target[target.length - 1]!;
  if (edit.kind === 'set') parent[last] = edit.value;
  else if (edit.kind === 'delete') delete parent[last];
  else parent[edit.key] = edit.value;
  return copy;
}

/**
 * YAML texts derived from a valid document: one to three leaves set to
 * hostile values, removed, or joined by unknown keys; plus hand-written
 * hostile YAML (alias bombs, deep nesting, tags, duplicate keys, garbage).
 */
export function hostileYaml(valid: unknown, canaryDir: string): fc.Arbitrary<string> {
  const paths = leafPaths(valid);
  const edit = fc.record({ kind: fc.constantFrom<'set' | 'delete' | 'add'>('set', 'set', 'delete', 'add'), at: fc.nat(), value: hostileValue(canaryDir), key: fc.constantFrom('unknownKey', 'tls', '__proto__', 'constructor', 'x') });
  const mutated = fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => stringify(edits.reduce((doc, e) => applyEdit(doc, paths, e), valid as unknown)));
  return fc.oneof({ weight: 5, arbitrary: mutated }, { weight: 1, arbitrary: fc.constantFrom(...RAW_HOSTILE_YAML) }, { weight: 1, arbitrary: fc.string({ maxLength: 200 }) });
}

const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');

/** Hand-written YAML that attacks the parser rather than the schema. */
export const RAW_HOSTILE_YAML: readonly string[] = [
  bomb,
  '['.repeat(5000) + ']'.repeat(5000),
  'a: &a [*a]',
  'x: !!js/function "function(){ return 1 }"',
  'x: !!binary aGVsbG8=',
  'x: !<tag:yaml.org,2002:python/object/apply:os.system> ["id"]',
  'listen: a\nlisten: b',
  '<<: *undefined',
  '%YAML 9.9\n---\nx: 1',
  '---\na: 1\n---\nb: 2',
  '\ufeffsite: x',
  '\tsite: x',
  'site: "unterminated',
  '- just\n- a\n- list',
  '42',
  '~',
  '',
  '\u0000\u0001\u0002',
  'key: ' + 'x'.repeat(100_000),
];
