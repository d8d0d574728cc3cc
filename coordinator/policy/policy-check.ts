import { readFile } from 'node:fs/promises';
import { parseStrictYaml } from '../../shared/config/strict-yaml.js';
import type { z } from 'zod';
import { ConfigError } from '../../shared/config/load-yaml.js';
import { crossFieldProblems, policyWarnings, type PolicyProblem } from './policy-rules.js';
import { policySchema, type Policy } from './policy-schema.js';

export type { PolicyProblem } from './policy-rules.js';

/** Outcome of checking a policy: the parsed policy and notes, or every problem found. */
export type PolicyCheckResult =
  | { ok: true; policy: Policy; warnings: PolicyProblem[] }
  | { ok: false; problems: PolicyProblem[] };

/** What a check may compare the policy with. */
export interface PolicyCheckOptions {
  /** Nodes in the site's pool; when given, mins beyond it are warned about. */
  capacity?: number;
}

const EXAMPLE = 'see docs/policy.example.yaml';

/**
 * Checks policy YAML text: syntax, the schema, the cross-field rules (all
 * reported at once, each naming its field) and, when it passes, warnings.
 * `file` is only used in messages by callers; never throws.
 */
export function checkPolicyText(text: string, _file: string, options: PolicyCheckOptions = {}): PolicyCheckResult {
  let raw: unknown;
  try {
    // Duplicate keys are errors, so a VO listed twice is refused, not a silent override.
    raw = parseStrictYaml(text);
  } catch (e) {
    return { ok: false, problems: [{ path: '(file)', message: `not valid YAML: ${yamlError(e)}; fix the syntax there` }] };
  }
  const result = policySchema.safeParse(raw);
  if (result.success) return { ok: true, policy: result.data, warnings: policyWarnings(result.data, options.capacity) };
  const problems = result.error.issues.flatMap((i) => issueProblems(i, raw));
  // zod skips cross-field rules once a field failed; run them on the raw input so one pass shows everything.
  const seen = new Set(problems.map(key));
  for (const p of crossFieldProblems(raw)) if (!seen.has(key(p))) problems.push(p);
  return { ok: false, problems };
}

/**
 * Reads and checks a policy file: the one way the coordinator loads it, at
 * start (PolicyWatcher), in `--check` and in `vonode policy check`. Returns
 * the text read ('' if unreadable) with the result; an unreadable file is a
 * problem, not a throw. Read-only.
 */
export async function readPolicyFile(file: string, options: PolicyCheckOptions = {}): Promise<{ text: string; result: PolicyCheckResult }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return { text: '', result: { ok: false, problems: [{ path: '(file)', message: `cannot read ${file}: ${(e as Error).message}; check the path and its permissions` }] } };
  }
  return { text, result: checkPolicyText(text, file, options) };
}

/** Reads and checks a policy file (see readPolicyFile); an unreadable file is a problem, not a throw. */
export async function checkPolicyFile(file: string, options: PolicyCheckOptions = {}): Promise<PolicyCheckResult> {
  return (await readPolicyFile(file, options)).result;
}

/** One problem as a line: `path: message`. */
export function formatProblem(p: PolicyProblem): string {
  return `${p.path}: ${p.message}`;
}

/** The ConfigError (shared/config) for a policy file that failed its check. */
export function policyConfigError(file: string, problems: readonly PolicyProblem[]): ConfigError {
  return new ConfigError(file, problems.map(formatProblem));
}

/** The first line of a yaml parse error (it names line and column), without the code excerpt after it. */
function yamlError(e: unknown): string {
  return String((e as Error).message).split('\n')[0]!.replace(/:$/, '');
}

function key(p: PolicyProblem): string {
  return `${p.path}\n${p.message}`;
}

function dotted(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}

/** The raw value at `path`, or undefined where the path leaves the document. */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

const TYPE_HINT: Record<string, string> = {
  object: 'a mapping of fields (key: value)',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  record: 'a mapping',
};

/** zod issues as problems whose messages say what to do. */
function issueProblems(issue: z.core.$ZodIssue, raw: unknown): PolicyProblem[] {
  const at = dotted(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => ({
        path: dotted([...issue.path, k]),
        message: `is not a policy field; remove it or fix its spelling (${EXAMPLE})`,
      }));
    case 'invalid_key':
      return [{ path: at, message: issue.issues[0]?.message ?? issue.message }];
    case 'invalid_type': {
      const value = valueAt(raw, issue.path);
      if (value === undefined) return [{ path: at, message: `is required; add it (${EXAMPLE})` }];
      // Schemas with their own message already say what to do; zod's default one only names the type.
      if (!issue.message.startsWith('Invalid input')) return [{ path: at, message: issue.message }];
      const got = value === null ? 'empty' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
      return [{ path: at, message: `must be ${TYPE_HINT[issue.expected] ?? issue.expected}, not ${got}; ${EXAMPLE}` }];
    }
    default:
      return [{ path: at, message: issue.message }];
  }
}
