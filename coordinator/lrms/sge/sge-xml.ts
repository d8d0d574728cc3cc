import { UnavailableError } from '../../../shared/errors.js';
import type { BatchHost, QueueDemand } from '../batch-system.js';

// Parsers of the XML that Grid Engine 8.1.9's qstat prints (`qstat -xml …`,
// `qstat -f -xml …`). No XML library is in the dependency tree, and these
// documents are small and fixed in shape (elements, quoted attributes, text,
// the five predefined entities), so a purpose-built reader is enough. It
// refuses anything it does not understand instead of guessing.

/** qstat printed something that is not the XML we expect. */
export class SgeXmlError extends UnavailableError {
  constructor(reason: string) {
    super(`unexpected qstat XML: ${reason}`);
  }
}

/** One XML element: its name, attributes, child elements and direct text. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const NAME = /^[A-Za-z_][\w.:-]*/;

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const ch = ENTITIES[ref];
    if (ch === undefined) throw new SgeXmlError(`unknown entity ${whole}`);
    return ch;
  });
}

/**
 * Parses one XML document into its root element. Skips the prolog, comments
 * and whitespace between elements. Throws SgeXmlError on malformed input.
 */
export function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    const parent = stack[stack.length - 1];
    if (parent) parent.text += decode(text);
    else if (text.trim()) throw new SgeXmlError('text outside the root element');
    if (lt === -1) break;
    if (xml.startsWith('<?', lt) || xml.startsWith('<!--', lt)) {
      const end = xml.indexOf(xml.startsWith('<?', lt) ? '?>' : '-->', lt);
      if (end === -1) throw new SgeXmlError('unterminated prolog or comment');
      i = end + (xml.startsWith('<?', lt) ? 2 : 3);
      continue;
    }
    const gt = xml.indexOf('>', lt);
    if (gt === -1) throw new SgeXmlError('unterminated tag');
    const tag = xml.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const open = stack.pop();
      if (!open || open.name !== tag.slice(1).trim()) throw new SgeXmlError(`unexpected </${tag.slice(1).trim()}>`);
      if (stack.length === 0) root = open;
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const element = parseTag(selfClosing ? tag.slice(0, -1) : tag);
    if (parent) parent.children.push(element);
    else if (root) throw new SgeXmlError('more than one root element');
    if (selfClosing) {
      if (!parent) root = element;
    } else {
      stack.push(element);
    }
  }
  if (stack.length > 0) throw new SgeXmlError(`<${stack[stack.length - 1]!.name}> is not closed`);
  if (!root) throw new SgeXmlError('no root element');
  return root;
}

function parseTag(tag: string): XmlElement {
  const name = NAME.exec(tag)?.[0];
  if (!name) throw new SgeXmlError(`bad tag <${tag}>`);
  const attributes: Record<string, string> = {};
  let rest = tag.slice(name.length);
  const ATTRIBUTE = /^\s+([A-Za-z_][\w.:-]*)\s*=\s*(?:'([^']*)'|"([^"]*)")/;
  for (let m = ATTRIBUTE.exec(rest); m; m = ATTRIBUTE.exec(rest)) {
    attributes[m[1]!] = decode(m[2] ?? m[3] ?? '');
    rest = rest.slice(m[0].length);
  }
  if (rest.trim()) throw new SgeXmlError(`bad attributes in <${tag}>`);
  return { name, attributes, children: [], text: '' };
}

/** Child elements named `name`. */
function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** Trimmed text of the first child named `name`, or undefined if there is none. */
function childText(element: XmlElement, name: string): string | undefined {
  return element.children.find((c) => c.name === name)?.text.trim();
}

function requiredInt(element: XmlElement, name: string): number {
  const text = childText(element, name);
  const value = text === undefined ? NaN : Number(text);
  if (!Number.isInteger(value)) throw new SgeXmlError(`<${element.name}> has no integer <${name}> (got ${text ?? 'none'})`);
  return value;
}

/** A job (or running array task) as qstat lists it. */
export interface SgeJob {
  id: number;
  name: string;
  owner: string;
  /** SGE's state letters: qw, hqw, Eqw, r, t, Rr, s, dr … */
  state: string;
  /** Queue instance (queue@host) it runs in; '' while pending. */
  queueInstance: string;
  /** Queues it asked for with -q (qstat -r's hard_req_queue), as written: bio.q, bio.q@*, … */
  hardQueues: string[];
  slots: number;
  /** How many tasks this entry stands for: 1, or the size of a pending array job's task range. */
  tasks: number;
}

/** A queue instance (queue@host) from `qstat -f -xml`. */
export interface SgeQueueInstance {
  queue: string;
  host: string;
  slotsUsed: number;
  slotsTotal: number;
  /** Last load average the execd reported; undefined when qstat shows none (no report yet, or unheard). */
  loadAvg: number | undefined;
  /** State letters (u unknown, a alarm, d disabled, E error, s suspended …); '' when none. */
  state: string;
  /** Jobs running there (listed only with `-u '*'`, or the caller's own). */
  jobs: SgeJob[];
}

function readJob(element: XmlElement, queueInstance: string): SgeJob {
  const tasks = childText(element, 'tasks');
  return {
    id: requiredInt(element, 'JB_job_number'),
    name: childText(element, 'JB_name') ?? '',
    owner: childText(element, 'JB_owner') ?? '',
    state: childText(element, 'state') ?? '',
    queueInstance: childText(element, 'queue_name') || queueInstance,
    hardQueues: childrenNamed(element, 'hard_req_queue').map((e) => e.text.trim()),
    slots: requiredInt(element, 'slots'),
    tasks: tasks && /[-,]/.test(tasks) ? countTasks(tasks) : 1,
  };
}

/**
 * Number of task ids in an SGE task range list ("1-4:1", "1-9:4", "1-3:1,7").
 * Throws SgeXmlError on anything else.
 */
export function countTasks(ranges: string): number {
  let total = 0;
  for (const part of ranges.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part.trim());
    if (!m) throw new SgeXmlError(`bad task range "${ranges}"`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (last < first || step < 1) throw new SgeXmlError(`bad task range "${ranges}"`);
    total += Math.floor((last - first) / step) + 1;
  }
  return total;
}

function expectRoot(xml: string, name: string): XmlElement {
  const root = parseXml(xml);
  if (root.name !== name) throw new SgeXmlError(`root element is <${root.name}>, expected <${name}>`);
  return root;
}

/**
 * Every job in `qstat -xml [-u '*'] [-s …] [-r]` output: running ones (under
 * queue_info, with their queue instance) and pending ones (under job_info).
 * Throws SgeXmlError on malformed output.
 */
export function parseQstatJobs(xml: string): SgeJob[] {
  const root = expectRoot(xml, 'job_info');
  const jobs: SgeJob[] = [];
  for (const section of root.children) {
    for (const entry of childrenNamed(section, 'job_list')) jobs.push(readJob(entry, ''));
  }
  return jobs;
}

/**
 * The queue instances in `qstat -f -xml [-u '*'] [-q …]` output, each with
 * the jobs listed under it. Throws SgeXmlError on malformed output.
 */
export function parseQueueInstances(xml: string): SgeQueueInstance[] {
  const root = expectRoot(xml, 'job_info');
  const instances: SgeQueueInstance[] = [];
  for (const section of childrenNamed(root, 'queue_info')) {
    for (const q of childrenNamed(section, 'Queue-List')) {
      const name = childText(q, 'name') ?? '';
      const at = name.indexOf('@');
      if (at <= 0 || at === name.length - 1) throw new SgeXmlError(`queue instance name "${name}" is not queue@host`);
      const load = childText(q, 'load_avg');
      instances.push({
        queue: name.slice(0, at),
        host: name.slice(at + 1),
        slotsUsed: requiredInt(q, 'slots_used'),
        slotsTotal: requiredInt(q, 'slots_total'),
        loadAvg: load === undefined || load === '' || Number.isNaN(Number(load)) ? undefined : Number(load),
        state: childText(q, 'state') ?? '',
        jobs: childrenNamed(q, 'job_list').map((j) => readJob(j, name)),
      });
    }
  }
  return instances;
}

// State letters that stop a queue instance from taking new jobs (qstat(1)):
// d/D disabled (by qmod / calendar), s/S suspended (by qmod / subordination),
// E error, C/c calendar or configuration-ambiguous, o orphaned.
const NOT_TAKING_JOBS = /[dDsSECco]/;

/**
 * The BatchHost state of a queue instance: 'unreachable' once the qmaster has
 * not heard from its execd for max_unheard (state u), 'disabled' when a state
 * letter keeps new jobs off it, else 'available' (an alarm 'a' alone is a
 * load threshold, which passes).
 */
export function instanceState(instance: SgeQueueInstance): BatchHost['state'] {
  if (instance.state.includes('u')) return 'unreachable';
  if (NOT_TAKING_JOBS.test(instance.state)) return 'disabled';
  return 'available';
}

/**
 * True when the instance can run a job now: no state letter at all and a load
 * report from its execd. This is where SR ends.
 */
export function acceptsJobs(instance: SgeQueueInstance): boolean {
  return instance.state === '' && instance.loadAvg !== undefined;
}

// Pending states that will not start without someone acting: held (h) or in
// error (E). They are not demand a new node could serve.
const STUCK = /[hE]/;

/** The cluster queue a -q request names ("bio.q", "bio.q@*", "bio.q@host" → bio.q), or undefined for a wildcard queue. */
function requestedQueue(request: string): string | undefined {
  const queue = request.split('@')[0] ?? '';
  return /[*?[\]]/.test(queue) || queue === '' ? undefined : queue;
}

/**
 * Pending and running jobs per queue, for the given queues (each present in
 * the result, zero when idle). A running job counts in the queue of its
 * instance; a pending one in every listed queue it asked for with -q (a job
 * that may run in bio.q or fusion.q is demand for both); a pending array job
 * counts its tasks. Held and error jobs are not demand. Needs `qstat -r`.
 */
export function demandPerQueue(jobs: readonly SgeJob[], queues: readonly string[]): Map<string, QueueDemand> {
  const demand = new Map<string, QueueDemand>(queues.map((queue) => [queue, { queue, pending: 0, running: 0 }]));
  for (const job of jobs) {
    if (job.queueInstance) {
      const entry = demand.get(job.queueInstance.split('@')[0] ?? '');
      if (entry) entry.running += job.tasks;
    } else if (!STUCK.test(job.state)) {
      const asked = new Set(job.hardQueues.map(requestedQueue));
      for (const queue of asked) {
        const entry = queue === undefined ? undefined : demand.get(queue);
        if (entry) entry.pending += job.tasks;
      }
    }
  }
  return demand;
}
