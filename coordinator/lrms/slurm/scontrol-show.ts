import type { SlurmNode } from './slurm-json.js';

// `scontrol --future --oneliner show node`: one node per line, Key=Value
// pairs separated by spaces. Slurm 22.05's scontrol has no --json (23.02 adds
// it), and sinfo never shows FUTURE nodes (created, slurmd not yet
// registered, or registration rejected): this is the only view of those.
// Values may hold spaces (OS=Linux 6.1.0 #1 SMP …); Reason, which may hold
// anything, is always the last field.
const KEY = /(?:^|\s)([A-Za-z][A-Za-z_]*)=/g;

/**
 * The nodes of `scontrol --future --oneliner show node [NAME]` output
 * (FUTURE ones included). Lines without NodeName= are skipped. Never throws.
 */
export function parseScontrolNodes(text: string): SlurmNode[] {
  const nodes: SlurmNode[] = [];
  for (const line of text.split('\n')) {
    const fields = oneLinerFields(line);
    const name = fields.get('NodeName');
    if (!name) continue;
    const [base = 'unknown', ...flags] = (fields.get('State') ?? '').split('+');
    const notResponding = base.endsWith('*') || flags.some((f) => f.endsWith('*'));
    const cleanFlags = flags.map((f) => f.replace(/\*$/, '').toUpperCase()).filter(Boolean);
    if (notResponding && !cleanFlags.includes('NOT_RESPONDING')) cleanFlags.push('NOT_RESPONDING');
    nodes.push({
      name,
      state: base.replace(/\*$/, '').toLowerCase() || 'unknown',
      flags: cleanFlags,
      partitions: list(fields.get('Partitions')),
      features: list(fields.get('ActiveFeatures')),
      reason: fields.get('Reason') ?? '',
    });
  }
  return nodes;
}

/** Key → value of one `--oneliner` record; Reason runs to the end of the line. */
export function oneLinerFields(line: string): Map<string, string> {
  const fields = new Map<string, string>();
  let body = line.trimEnd();
  const reasonAt = body.search(/(?:^|\s)Reason=/);
  if (reasonAt >= 0) {
    fields.set('Reason', body.slice(body.indexOf('Reason=', reasonAt) + 'Reason='.length).trim());
    body = body.slice(0, reasonAt);
  }
  const keys = [...body.matchAll(KEY)];
  keys.forEach((m, i) => {
    const start = (m.index ?? 0) + m[0].length;
    const end = keys[i + 1]?.index ?? body.length;
    fields.set(m[1]!, body.slice(start, end).trim());
  });
  return fields;
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== '(null)');
}

/** A partition as `scontrol --oneliner show partition` shows it. */
export interface SlurmPartition {
  name: string;
  /** UP, DOWN (takes jobs, starts none), DRAIN or INACTIVE (rejects jobs). */
  state: string;
  /** NodeSets feeding it (slurm.conf `Nodes=<nodeset>`). */
  nodeSets: string[];
}

/** The partitions of `scontrol --oneliner show partition` output. Never throws. */
export function parseScontrolPartitions(text: string): SlurmPartition[] {
  const partitions: SlurmPartition[] = [];
  for (const line of text.split('\n')) {
    const fields = oneLinerFields(line);
    const name = fields.get('PartitionName');
    if (!name) continue;
    partitions.push({ name, state: (fields.get('State') ?? 'UNKNOWN').toUpperCase(), nodeSets: list(fields.get('NodeSets')) });
  }
  return partitions;
}
