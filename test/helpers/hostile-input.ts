import fc from 'fast-check';
import type protobuf from 'protobufjs';

/** Strings that have broken servers before: traversal, injection, control characters, huge, near-valid. */
export function hostileStrings(opts: { canaryDir: string; nearValid?: readonly string[] }): fc.Arbitrary<string> {
  const c = opts.canaryDir;
  const classics = [
    '', ' ', '-', '.', '..', '/', '../../../../etc/passwd', '/etc/shadow', 'file:///etc/shadow', 'file:///proc/self/environ',
    `file://${c}/planted`, `${c}/planted`, `../../../..${c}/planted`, `file://localhost${c}/x`, `http://127.0.0.1:1${c}`,
    'http://169.254.169.254/latest/meta-data/', 'gopher://127.0.0.1:25/', 'unix:/tmp/vonode-fuzz.sock', '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    'a\u0000b', 'line\nbreak', 'tab\there', '; rm -rf / #', `$(touch ${c}/pwned)`, '`id`', '{{7*7}}', '%s%n%x%p', '\u202egnp.exe',
    'x'.repeat(70_000), 'VWN-001', 'vwn_001', 'vwn-001.', '-vwn', '52:54:00:ff:ff:ff', '01:00:5e:00:00:01', '10.77.0.255', '999.1.1.1',
    '0'.repeat(64), 'f'.repeat(63), 'bio_x', 'BIO', 'bio; DROP TABLE nodes', '🐛', '\ud800',
  ];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...classics) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
    { weight: 2, arbitrary: fc.constantFrom(...(opts.nearValid?.length ? opts.nearValid : ['x'])) },
  );
}

/** Integers and doubles at and past every boundary a wire type has. */
function hostileNumber(kind: string): fc.Arbitrary<number> {
  switch (kind) {
    case 'uint32':
    case 'fixed32':
      return fc.oneof(fc.constantFrom(0, 1, 2, 64, 1000, 65_535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1), fc.nat());
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return fc.oneof(fc.constantFrom(0, -1, 1, -(2 ** 31), 2 ** 31 - 1), fc.integer());
    case 'double':
    case 'float':
      return fc.oneof(fc.constantFrom(0, -0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE, 1e-300), fc.double());
    default: // 64-bit integers, carried as JS numbers by vonode's codecs
      return fc.oneof(fc.constantFrom(0, -1, 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 40), fc.maxSafeInteger());
  }
}

/**
 * Any instance of a protobuf message type, every field optional, strings
 * hostile, numbers at their boundaries, enums including unknown values,
 * nested messages to `depth`. Built from the same .proto files the services
 * are generated from, so every RPC's request is covered without a hand-written generator.
 */
export function messageOf(type: protobuf.Type, strings: fc.Arbitrary<string>, depth = 3): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of type.fieldsArray) {
    const one = fieldValue(field, strings, depth);
    if (!one) continue;
    fields[field.name] = field.repeated ? fc.array(one, { maxLength: 4 }) : one;
  }
  return fc.record(fields, { requiredKeys: [] });
}

function fieldValue(field: protobuf.Field, strings: fc.Arbitrary<string>, depth: number): fc.Arbitrary<unknown> | undefined {
  const resolved = field.resolvedType;
  if (resolved && 'fieldsArray' in resolved) return depth > 0 ? messageOf(resolved, strings, depth - 1) : undefined;
  if (resolved) return fc.integer({ min: -3, max: 40 }); // enum: known and unknown values
  switch (field.type) {
    case 'string':
      return strings;
    case 'bool':
      return fc.boolean();
    case 'bytes':
      return fc.uint8Array({ maxLength: 64 });
    default:
      return hostileNumber(field.type);
  }
}

/** Encodes a generated object as the type's wire bytes. */
export function encode(type: protobuf.Type, value: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

/**
 * A valid request with some fields swapped for hostile ones (each kept with 6:1
 * odds, nested messages likewise): gets past the first validation error
 * into the deeper code that pure garbage never reaches.
 */
export function nearValid(type: protobuf.Type, valid: Record<string, unknown>, strings: fc.Arbitrary<string>): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of type.fieldsArray) {
    const value = valid[field.name];
    if (value === undefined) continue;
    const resolved = field.resolvedType;
    const keep: fc.Arbitrary<unknown> =
      resolved && 'fieldsArray' in resolved && !field.repeated && typeof value === 'object' && value !== null
        ? nearValid(resolved, value as Record<string, unknown>, strings)
        : fc.constant(value);
    const hostile = fieldValue(field, strings, 2);
    fields[field.name] = hostile ? fc.oneof({ weight: 6, arbitrary: keep }, { weight: 1, arbitrary: field.repeated ? fc.array(hostile, { maxLength: 4 }) : hostile }) : keep;
  }
  return fc.record(fields);
}
