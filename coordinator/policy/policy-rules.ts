// Rules that span fields (and so cannot live in one field's schema). They read
// the policy loosely, as `unknown`, so that policy-check can run them on raw
// YAML even when zod stopped early on a bad field: the operator then sees
// every problem of a file in one pass instead of one per edit.

/** One thing wrong (or worth noting) in a policy file: the dotted field path and what to do about it. */
export interface PolicyProblem {
  /** Dotted field path, e.g. `vos.bio.appliance.disk.sha256`; `(top level)` or `(file)` otherwise. */
  path: string;
  /** What is wrong and how to fix it. */
  message: string;
}

type Loose = Record<string, unknown>;

function asObject(v: unknown): Loose | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : undefined;
}

/**
 * Cross-field rules of a policy: max ≥ min, initrd/cmdline only with a kernel,
 * one VO per batch queue. Takes raw or parsed input (both name these fields
 * alike) and skips whatever is missing or mistyped: the schema reports those.
 */
export function crossFieldProblems(raw: unknown): PolicyProblem[] {
  const vos = asObject(asObject(raw)?.['vos']);
  if (!vos) return [];
  const problems: PolicyProblem[] = [];
  const queueOwner = new Map<string, string>();
  for (const [name, value] of Object.entries(vos)) {
    const vo = asObject(value);
    if (!vo) continue;
    const at = `vos.${name}`;
    const { min, max, queue } = vo;
    if (typeof min === 'number' && typeof max === 'number' && max < min) {
      problems.push({ path: `${at}.max`, message: `is ${max}, below min (${min}); raise max or lower min` });
    }
    if (typeof queue === 'string') {
      const owner = queueOwner.get(queue);
      if (owner === undefined) queueOwner.set(queue, name);
      else {
        problems.push({
          path: `${at}.queue`,
          message: `"${queue}" is already the queue of VO ${owner}; give each VO its own batch queue`,
        });
      }
    }
    const appliance = asObject(vo['appliance']);
    if (appliance && appliance['kernel'] === undefined) {
      for (const field of ['initrd', 'cmdline'] as const) {
        if (appliance[field] !== undefined) {
          problems.push({
            path: `${at}.appliance.${field}`,
            message: `only applies to a direct kernel boot; add appliance.kernel or remove ${field}`,
          });
        }
      }
    }
  }
  return problems;
}

/** The fields of a parsed policy that policyWarnings reads. */
export interface WarnablePolicy {
  vos: ReadonlyArray<{ name: string; min: number }>;
}

/**
 * Notes that do not block a policy: the nodes kept booted for the VOs' mins
 * (compared with `capacity` when it is known, since mins beyond it are only
 * met in weight order).
 */
export function policyWarnings(policy: WarnablePolicy, capacity?: number): PolicyProblem[] {
  const sumMin = policy.vos.reduce((s, v) => s + v.min, 0);
  if (sumMin === 0) return [];
  const holders = policy.vos.filter((v) => v.min > 0).map((v) => `${v.name} ${v.min}`).join(', ');
  if (capacity === undefined) {
    return [{
      path: 'vos.*.min',
      message: `the mins add up to ${sumMin} nodes (${holders}), kept booted even without jobs; the pool needs at least that many`,
    }];
  }
  if (sumMin <= capacity) return [];
  return [{
    path: 'vos.*.min',
    message: `the mins add up to ${sumMin} nodes (${holders}) but the site has ${capacity}; they will be met heaviest weight first, so lower some min or add nodes to the pool`,
  }];
}
