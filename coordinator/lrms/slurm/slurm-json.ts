import { z } from 'zod';
import { UnavailableError } from '../../../shared/errors.js';
import type { BatchHost, QueueDemand } from '../batch-system.js';

/** `squeue --json` / `sinfo --json` printed something unusable, or reported errors (they exit 0 when slurmctld is down). */
export class SlurmOutputError extends UnavailableError {}

/** A job as `squeue --json` lists it, reduced to what vonode needs. */
export interface SlurmJob {
  id: number;
  /** Slurm's job state string: PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, … */
  state: string;
  /** Partitions it may run in (a pending job may name several; a running one has one). */
  partitions: string[];
  /** Nodes allocated to it (empty while pending). */
  nodes: string[];
  /** Why it is pending (JobHeldUser, Dependency, Resources, …); 'None' when not pending. */
  reason: string;
  /** Tasks the record stands for: a pending array record covers its unstarted tasks ("1-4" = 4). */
  tasks: number;
}

/** A node as `sinfo --json` or `scontrol --future --oneliner show node` shows it. */
export interface SlurmNode {
  name: string;
  /** Base state, lowercase: idle, mixed, allocated, down, future, unknown, error. */
  state: string;
  /** State flags, uppercase: DRAIN, COMPLETING, NOT_RESPONDING, DYNAMIC_NORM, INVALID_REG, … */
  flags: string[];
  partitions: string[];
  /** Active features (a vonode node has its VO's name). */
  features: string[];
  /** Why it is drained or down ('' if none). */
  reason: string;
}

// Only the fields vonode reads; squeue/sinfo print ~100 more per record.
// Slurm 22.05 (openapi v0.0.38 data parser) prints nulls for unset values.
const errorsSchema = z.array(z.looseObject({ error: z.string().optional(), description: z.string().optional() })).optional();
const squeueSchema = z.object({
  errors: errorsSchema,
  jobs: z.array(
    z.object({
      job_id: z.number(),
      job_state: z.string(),
      partition: z.string().nullish(),
      nodes: z.string().nullish(),
      state_reason: z.string().nullish(),
      array_task_string: z.string().nullish(),
      job_resources: z.object({ allocated_nodes: z.array(z.object({ nodename: z.string() })).nullish() }).nullish(),
    }),
  ),
});
const sinfoSchema = z.object({
  errors: errorsSchema,
  nodes: z.array(
    z.object({
      name: z.string(),
      state: z.string(),
      state_flags: z.array(z.string()).nullish(),
      partitions: z.array(z.string()).nullish(),
      active_features: z.string().nullish(),
      reason: z.string().nullish(),
    }),
  ),
});

/** Job states in which a job holds its nodes (it runs, starts, is suspended, or is being cleaned up). */
export const OCCUPYING_STATES: ReadonlySet<string> = new Set([
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'SUSPENDED',
  'STOPPED',
  'SIGNALING',
  'STAGE_OUT',
  'RESIZING',
]);
/** Job states of a job waiting to be scheduled (a requeued job waits again). */
const WAITING_STATES = new Set(['PENDING', 'REQUEUED', 'REQUEUE_FED']);
// Pending for a reason another node would not cure: held, waiting for
// another job or for its begin time. Like SGE's held jobs, not demand.
const STUCK_REASONS = /^(?:JobHeld(?:User|Admin)|Dependency(?:NeverSatisfied)?|BeginTime)$/;

/**
 * The jobs of a `squeue --json` document. squeue 22.05 ignores -p/-t/-w with
 * --json and also lists jobs that ended within MinJobAge: callers filter by
 * state themselves. Throws SlurmOutputError on unparsable output or when
 * squeue reported errors (e.g. slurmctld unreachable, which exits 0).
 */
export function parseSqueueJobs(json: string): SlurmJob[] {
  const doc = parseDocument('squeue --json', json, squeueSchema);
  return doc.jobs.map((j) => {
    const allocated = j.job_resources?.allocated_nodes?.map((n) => n.nodename);
    return {
      id: j.job_id,
      state: j.job_state,
      partitions: splitList(j.partition),
      nodes: allocated && allocated.length > 0 ? allocated : expandHostlist(j.nodes ?? ''),
      reason: j.state_reason ?? 'None',
      tasks: WAITING_STATES.has(j.job_state) && j.array_task_string ? countArrayTasks(j.array_task_string) : 1,
    };
  });
}

/**
 * The nodes of a `sinfo --json` document: every node slurmctld has heard
 * from, including dynamic ones in no partition, but not FUTURE nodes (see
 * parseScontrolNodes). Throws SlurmOutputError on unparsable output or
 * reported errors.
 */
export function parseSinfoNodes(json: string): SlurmNode[] {
  const doc = parseDocument('sinfo --json', json, sinfoSchema);
  return doc.nodes.map((n) => ({
    name: n.name,
    state: n.state.toLowerCase(),
    flags: (n.state_flags ?? []).map((f) => f.toUpperCase()),
    partitions: n.partitions ?? [],
    features: splitList(n.active_features),
    reason: n.reason ?? '',
  }));
}

/**
 * Pending and running jobs per queue (= partition). A pending job that names
 * several partitions is demand for each; a pending array record counts its
 * unstarted tasks; held jobs and jobs waiting on a dependency or begin time
 * are not demand. Queues without jobs get zeros.
 */
export function demandPerPartition(jobs: readonly SlurmJob[], queues: readonly string[]): Map<string, QueueDemand> {
  const demand = new Map<string, QueueDemand>(queues.map((queue) => [queue, { queue, pending: 0, running: 0 }]));
  for (const job of jobs) {
    if (OCCUPYING_STATES.has(job.state)) {
      for (const partition of new Set(job.partitions)) {
        const entry = demand.get(partition);
        if (entry) entry.running += job.tasks;
      }
    } else if (WAITING_STATES.has(job.state) && !STUCK_REASONS.test(job.reason)) {
      for (const partition of new Set(job.partitions)) {
        const entry = demand.get(partition);
        if (entry) entry.pending += job.tasks;
      }
    }
  }
  return demand;
}

/** Jobs that hold `node` (running, starting, suspended or completing on it). */
export function jobsOnNode(jobs: readonly SlurmJob[], node: string): SlurmJob[] {
  return jobs.filter((j) => OCCUPYING_STATES.has(j.state) && j.nodes.includes(node));
}

const UNREACHABLE_STATES = new Set(['down', 'future', 'unknown']);
const UNREACHABLE_FLAGS = ['NOT_RESPONDING', 'POWERED_DOWN', 'POWERING_DOWN', 'INVALID_REG'];
const DISABLED_FLAGS = ['DRAIN', 'FAIL', 'MAINTENANCE', 'REBOOT_REQUESTED', 'REBOOT_ISSUED', 'POWER_DOWN'];

/**
 * The vonode view of a node: unreachable when its slurmd is not heard (DOWN,
 * NOT_RESPONDING, FUTURE = never registered, rejected registration);
 * disabled when it takes no new job (DRAIN: drain/draining/drained, FAIL, …
 * or base state error); available otherwise (idle, mixed, allocated).
 */
export function nodeState(node: SlurmNode): BatchHost['state'] {
  if (UNREACHABLE_STATES.has(node.state) || node.flags.some((f) => UNREACHABLE_FLAGS.includes(f))) return 'unreachable';
  if (node.state === 'error' || node.flags.some((f) => DISABLED_FLAGS.includes(f))) return 'disabled';
  return 'available';
}

/** True when the node takes jobs of `partition`: available and a member of it (the SR end condition). */
export function availableIn(node: SlurmNode, partition: string): boolean {
  return nodeState(node) === 'available' && node.partitions.includes(partition);
}

/** True for nodes created at run time (`scontrol create` or `slurmd -Z`), i.e. not from slurm.conf. */
export function isDynamicNode(node: SlurmNode): boolean {
  return node.flags.includes('DYNAMIC_NORM') || node.flags.includes('DYNAMIC_FUTURE');
}

/**
 * Number of tasks in a Slurm array range string: "1-4" → 4, "1,3,5-7" → 5,
 * "0-15:4" → 4, "1-10%2" → 10 (the %limit is ignored). Unparsable parts
 * count as one task each.
 */
export function countArrayTasks(ranges: string): number {
  const spec = ranges.replace(/%\d+$/, '');
  let total = 0;
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part.trim());
    if (!m) {
      if (part.trim()) total += 1;
      continue;
    }
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    const step = m[3] === undefined ? 1 : Math.max(1, Number(m[3]));
    total += last >= first ? Math.floor((last - first) / step) + 1 : 0;
  }
  return total;
}

/**
 * Expands a Slurm host list: "bio-n[1-3,5],fus-n1" → bio-n1 bio-n2 bio-n3
 * bio-n5 fus-n1; zero padding is kept ("n[08-10]" → n08 n09 n10). One
 * bracket group per name, as Slurm prints for vonode's names.
 */
export function expandHostlist(list: string): string[] {
  const names: string[] = [];
  // split on commas outside brackets
  for (const item of list.match(/[^,[]+(?:\[[^\]]*\][^,[]*)*/g) ?? []) {
    const m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(item);
    if (!m) {
      names.push(item);
      continue;
    }
    const [, prefix = '', ranges = '', suffix = ''] = m;
    for (const range of ranges.split(',')) {
      const r = /^(\d+)(?:-(\d+))?$/.exec(range);
      if (!r) continue;
      const width = r[1]!.length;
      const first = Number(r[1]);
      const last = r[2] === undefined ? first : Number(r[2]);
      for (let i = first; i <= last; i++) names.push(`${prefix}${String(i).padStart(width, '0')}${suffix}`);
    }
  }
  return names;
}

function parseDocument<T extends { errors?: Array<{ error?: string; description?: string }> | undefined }>(
  what: string,
  json: string,
  schema: z.ZodType<T>,
): T {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new SlurmOutputError(`${what} printed no JSON: ${(err as Error).message}`, { cause: err });
  }
  // errors first: a failed query prints {errors:[…]} with an empty or missing list
  const errors = z.object({ errors: errorsSchema }).safeParse(raw);
  const reported = errors.success ? (errors.data.errors ?? []) : [];
  if (reported.length > 0) {
    const text = reported.map((e) => [e.description, e.error].filter(Boolean).join(': ')).join('; ');
    throw new SlurmOutputError(`${what} reported: ${text} (is slurmctld reachable?)`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SlurmOutputError(`${what} printed unexpected JSON at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function splitList(value: string | null | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== '(null)');
}
