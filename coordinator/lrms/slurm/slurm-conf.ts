import { InvalidArgumentError } from '../../../shared/errors.js';
import { validateVoName } from '../../../shared/validation.js';

// Partition and feature names go into slurm.conf lines and scontrol
// arguments (Key=Value, space separated): letters, digits, '_' and '-' only,
// like VO names.
const PARTITION = /^[a-z][a-z0-9_-]{0,31}$/;

/** Validates a partition (VO queue) name; returns it. Throws InvalidArgumentError. */
export function validatePartitionName(field: string, value: string): string {
  if (!PARTITION.test(value)) {
    throw new InvalidArgumentError(field, `"${value}" is not a Slurm partition name (a-z, 0-9, '_', '-'; starts with a letter; ≤ 32 chars)`);
  }
  return value;
}

/** A VO and the partition (its queue) its nodes join. */
export interface SlurmVoPartition {
  vo: string;
  partition: string;
}

/** The NodeSet that gathers a VO's nodes: every node whose Feature is the VO's name. */
export function nodeSetName(vo: string): string {
  return `ns_${validateVoName('vo', vo)}`;
}

/**
 * The slurm.conf lines for one partition per VO: a NodeSet selecting nodes
 * by Feature=<vo> and a partition over it, so a dynamic node created with
 * Feature=<vo> (`scontrol create … Feature=bio State=FUTURE`, or
 * `slurmd -Z --conf Feature=bio`) joins its VO's partition by itself. A plain
 * string is a VO whose partition has the same name. The rest of slurm.conf
 * must allow dynamic nodes (MaxNodeCount > 0); scripts/testbed/slurm.sh writes
 * the same lines. Throws InvalidArgumentError on a bad or repeated name.
 */
export function slurmConfForVos(vos: ReadonlyArray<string | SlurmVoPartition>): string {
  const seenVos = new Set<string>();
  const seenPartitions = new Set<string>();
  const lines = ['# VO partitions: a dynamic node joins the partition of its Feature'];
  vos.forEach((entry, i) => {
    const { vo, partition } = typeof entry === 'string' ? { vo: entry, partition: entry } : entry;
    validateVoName(`vos[${i}].vo`, vo);
    validatePartitionName(`vos[${i}].partition`, partition);
    if (seenVos.has(vo)) throw new InvalidArgumentError(`vos[${i}].vo`, `"${vo}" is listed twice`);
    if (seenPartitions.has(partition)) throw new InvalidArgumentError(`vos[${i}].partition`, `"${partition}" is listed twice`);
    seenVos.add(vo);
    seenPartitions.add(partition);
    lines.push(`NodeSet=${nodeSetName(vo)} Feature=${vo}`, `PartitionName=${partition} Nodes=${nodeSetName(vo)} MaxTime=INFINITE State=UP`);
  });
  return `${lines.join('\n')}\n`;
}
