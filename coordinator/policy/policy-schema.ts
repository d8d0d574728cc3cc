import { z } from 'zod';
import { durationWithin, sizeWithin } from '../../shared/config/units.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { validateCmdline, validateImageUrl, validateSha256, voNameProblem } from '../../shared/validation.js';
import type { VoClaim } from '../planner/fair-share.js';
import { crossFieldProblems } from './policy-rules.js';

// The site's VO policy (DESIGN §4), one YAML file; docs/policy.example.yaml
// shows every field with its default. Messages say what to do, because the
// person reading them is editing that file.

const MiB = 1024 ** 2;
const TiB = 1024 ** 4;

// Upper bounds of the numeric fields. Each is far above any real site and
// keeps every value exact in a double and inside its wire type.
/** The agent refuses VMs above 4 TiB (agent/deploy/vm-spec.ts: memory_mb ≤ 4 × 1024 × 1024). */
const MAX_MEMORY_BYTES = 4 * TiB;
/** Largest appliance disk `size` (an expected-size hint). */
const MAX_DISK_BYTES = 16 * TiB;
/** Largest min, max and slotsPerNode. */
const MAX_COUNT = 100_000;
/** Largest share weight (weights only matter as ratios). */
const MAX_WEIGHT = 1_000_000;
/** Longest cooldown or idle time: a week; beyond it scaling has in effect stopped, which `max` says better. */
const MAX_POLICY_DURATION_MS = 7 * 24 * 3_600_000;

/** Where an appliance file comes from and the digest it must have. */
export interface ImageRef {
  /** http://, https:// or file:/// URL. */
  url: string;
  /** Lowercase hex sha256 of the file (uppercase input is lowercased). */
  sha256: string;
}

/** The root disk image of an appliance. */
export interface DiskRef extends ImageRef {
  /** Expected size in bytes (`size` in the file), when given. */
  sizeBytes?: number;
}

/** What a VO's virtual worker nodes boot. */
export interface Appliance {
  /** The appliance's identifier for accounting (APEL ImageId, e.g. its marketplace URI), when given. */
  id?: string;
  /** The root disk image. */
  disk: DiskRef;
  /** Kernel for a direct kernel boot; without it the disk boots by itself. */
  kernel?: ImageRef;
  /** Initial ramdisk; only with a kernel. */
  initrd?: ImageRef;
  /** Kernel command line; only with a kernel. */
  cmdline?: string;
}

/** One VO's validated policy. */
export interface VoPolicy {
  /** VO name (the key under `vos`). */
  name: string;
  /** Share weight, > 0 (default 1). */
  weight: number;
  /** Nodes always kept, demand or not (default 0). */
  min: number;
  /** Nodes never exceeded; ≥ min. */
  max: number;
  /** Batch queue whose jobs are this VO's demand; unique across VOs. */
  queue: string;
  /** Job slots one node offers (default 1). */
  slotsPerNode: number;
  /** Size of each node (default 1 vCPU, 512 MiB). */
  vm: { vcpus: number; memoryMb: number };
  /** What the nodes boot. */
  appliance: Appliance;
  /** Warm the appliance on hosts before demand comes (absent: no prefetch). */
  prefetch?: PrefetchPolicy;
}

/**
 * Prefetch of a VO's appliance: on the `hosts` hosts placement would choose
 * next (or all hosts), `always` or only while no deployment waits for a
 * download (`idle`). Downloads are admitted like any other (no link is
 * oversubscribed); hosts' caches evict least recently used images, never one
 * a running VM uses.
 */
export interface PrefetchPolicy {
  hosts: number | 'all';
  when: 'always' | 'idle';
}

/** The validated policy: defaults applied, durations in ms, VOs in file order. */
export interface Policy {
  /** Least time between two changes of one VO's target: growing (default 10s) and shrinking (default 60s). */
  cooldowns: { scaleUpMs: number; scaleDownMs: number };
  /** How long a node must be idle before a scale-down drains it (default 30s). */
  idleBeforeDrainMs: number;
  /** At least one VO, in the order the file lists them. */
  vos: VoPolicy[];
}

/** zod string field checked by one of shared/validation.ts's validators; the message adds `hint`. */
function checkedBy(validate: (field: string, value: string) => unknown, hint: string) {
  return z.string({ error: `must be a string; ${hint}` }).transform((value, ctx) => {
    try {
      validate('value', value);
      return value;
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      ctx.addIssue({ code: 'custom', message: `${e.message.replace(/^invalid value: /, '')}; ${hint}` });
      return z.NEVER;
    }
  });
}

const urlField = checkedBy((field, value) => {
  validateImageUrl(field, value);
  // A file URL with a host (file://server/x) would name a remote share; only local files are meant.
  if (/^file:/i.test(value) && !value.startsWith('file:///')) {
    throw new InvalidArgumentError(field, `"${value}" is a file URL with a host`);
  }
}, 'use http://HOST/PATH, https://HOST/PATH or file:///ABSOLUTE/PATH');

const sha256Field = z
  .string({ error: 'must be the 64-hex sha256 of the image; compute it with sha256sum FILE' })
  .transform((value, ctx) => {
    try {
      return validateSha256('sha256', value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be the 64-hex sha256 of the image; compute it with sha256sum FILE' });
      return z.NEVER;
    }
  });

const imageRef = z.strictObject({ url: urlField, sha256: sha256Field });

const diskRef = z
  .strictObject({
    url: urlField,
    sha256: sha256Field,
    size: sizeWithin(0, MAX_DISK_BYTES, ' (the disk image\'s size in bytes, or with a unit like 2GiB)').optional(),
  })
  .transform(({ size, ...ref }) => (size === undefined ? ref : { ...ref, sizeBytes: size }));

const applianceSchema = z.strictObject({
  id: z.string().min(1).max(255).regex(/^[^\s]+$/, { error: 'must be one word of at most 255 characters (a URI or identifier), e.g. https://appdb.egi.eu/store/vo/image/abc/' }).optional(),
  disk: diskRef,
  kernel: imageRef.optional(),
  initrd: imageRef.optional(),
  cmdline: checkedBy(validateCmdline, 'keep to letters, digits, spaces and ._/=,:+@- (≤ 1024 chars)').optional(),
});

const memoryMb = sizeWithin(64 * MiB, MAX_MEMORY_BYTES, ' (agents refuse larger VMs), e.g. 512MiB or 2GiB')
  .pipe(z.number().multipleOf(MiB, { error: 'must be a whole number of MiB, e.g. 512MiB or 2GiB' }))
  .transform((bytes) => bytes / MiB);

const vmSchema = z
  .strictObject({
    vcpus: z
      .int({ error: 'must be a whole number of vCPUs from 1 to 256' })
      .min(1, { error: 'must be a whole number of vCPUs from 1 to 256' })
      .max(256, { error: 'must be a whole number of vCPUs from 1 to 256 (agents refuse more)' })
      .default(1),
    memory: memoryMb.default(512),
  })
  .transform(({ vcpus, memory }) => ({ vcpus, memoryMb: memory }));

const count = (what: string) =>
  z.int({ error: `must be a whole number of ${what}` }).max(MAX_COUNT, { error: `must be at most ${MAX_COUNT} ${what.split(',')[0]}` });

const voSchema = z.strictObject({
  weight: z
    .number({ error: 'must be a number above 0, e.g. 2' })
    .positive({ error: 'must be above 0, e.g. 2' })
    .max(MAX_WEIGHT, { error: `must be at most ${MAX_WEIGHT}; only the ratios between VOs matter, e.g. 2 and 5` })
    .default(1),
  min: count('nodes, 0 or more').min(0, { error: 'must be 0 or more nodes' }).default(0),
  max: count('nodes, at least min').min(0, { error: 'must be 0 or more nodes (and at least min)' }),
  queue: z
    .string({ error: 'must be the batch queue name, e.g. bio.q' })
    .regex(/^[A-Za-z0-9_.-]+$/, { error: 'must be a batch queue name of letters, digits and _.- (e.g. bio.q)' }),
  slotsPerNode: count('job slots, 1 or more').min(1, { error: 'must be 1 or more job slots' }).default(1),
  vm: vmSchema.default({ vcpus: 1, memoryMb: 512 }),
  appliance: applianceSchema,
  prefetch: z
    .strictObject({
      hosts: z.union([z.literal('all'), count('hosts, 1 or more').min(1, { error: 'must be 1 or more hosts, or all' })], { error: 'must be a number of hosts or all' }),
      when: z.enum(['always', 'idle'], { error: 'must be always or idle' }).default('idle'),
    })
    .optional(),
});

/** The one VO-name rule (shared/validation.ts), as the API and the agents apply it. */
const voName = z.string().superRefine((name, ctx) => {
  const problem = voNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const policyDuration = durationWithin(0, MAX_POLICY_DURATION_MS);

const cooldownsSchema = z.strictObject({
  scaleUp: policyDuration.default(10_000),
  scaleDown: policyDuration.default(60_000),
});

/** zod schema of the policy YAML (strict: unknown keys are errors); parses to {@link Policy}. */
export const policySchema = z
  .strictObject({
    cooldowns: cooldownsSchema.default({ scaleUp: 10_000, scaleDown: 60_000 }),
    idleBeforeDrain: policyDuration.default(30_000),
    vos: z
      .record(voName, voSchema, { error: 'must map VO names to their policy, e.g. vos: { bio: { ... } }' })
      .refine((vos) => Object.keys(vos).length > 0, { error: 'needs at least one VO; add one (see docs/policy.example.yaml)' }),
  })
  .superRefine((policy, ctx) => {
    for (const p of crossFieldProblems(policy)) ctx.addIssue({ code: 'custom', path: p.path.split('.'), message: p.message });
  })
  .transform(
    (p): Policy => ({
      cooldowns: { scaleUpMs: p.cooldowns.scaleUp, scaleDownMs: p.cooldowns.scaleDown },
      idleBeforeDrainMs: p.idleBeforeDrain,
      vos: Object.entries(p.vos).map(([name, vo]) => ({ name, ...vo })),
    }),
  );

/**
 * Fair-share claims for the policy's VOs. `demandByVo` is each VO's pending +
 * running jobs (batch slots), converted to nodes with `slotsPerNode` (rounded
 * up); a VO missing from it has no demand.
 */
export function policyToClaims(policy: Pick<Policy, 'vos'>, demandByVo: Readonly<Record<string, number>>): VoClaim[] {
  return policy.vos.map((v) => {
    const jobs = demandByVo[v.name] ?? 0;
    const demand = Number.isFinite(jobs) && jobs > 0 ? Math.ceil(jobs / v.slotsPerNode) : 0;
    return { vo: v.name, weight: v.weight, demand, min: v.min, max: v.max };
  });
}
