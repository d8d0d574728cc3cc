import type { BatchCommandOptions } from '../batch-command-options.js';
import type { Clock } from '../../../shared/clock.js';
import { InvalidArgumentError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { CommandResult } from '../../../shared/process/command-runner.js';
import { validateHostname, validateIntRange, validateIpv4, validateSafePath, validateVoName } from '../../../shared/validation.js';
import type { NodeRecord } from '../../store/records.js';
import { BatchCommandRunner } from '../batch-command-runner.js';
import type { BatchHost, BatchNode, BatchSystem, QueueDemand } from '../batch-system.js';
import { parseScontrolNodes, parseScontrolPartitions } from './scontrol-show.js';
import { nodeSetName, slurmConfForVos, validatePartitionName } from './slurm-conf.js';
import {
  classifySlurmFailure,
  SlurmNodeBusyError,
  SlurmNodeConflictError,
  SlurmNodeNotFoundError,
  SlurmPartitionError,
} from './slurm-errors.js';
import {
  availableIn,
  demandPerPartition,
  isDynamicNode,
  jobsOnNode,
  nodeState,
  parseSinfoNodes,
  parseSqueueJobs,
  type SlurmJob,
  type SlurmNode,
} from './slurm-json.js';

/** Options of SlurmBatchSystem; every field has a default. */
export interface SlurmBatchSystemOptions extends BatchCommandOptions {
  /** SLURM_CONF for every command. Default: env.SLURM_CONF, else Slurm's own default (/etc/slurm/slurm.conf). */
  slurmConf?: string;
  /** How long deregister waits for slurmctld to release the jobs of a node that stopped responding. Default 60 s. */
  deregisterTimeoutMs?: number;
  /** Reason recorded on drained nodes (shown by sinfo -R). Default "vonode-drain". */
  drainReason?: string;
}

/**
 * The Slurm 22.05 adapter. A VO's queue is a partition whose NodeSet selects
 * nodes by Feature=<vo> (slurmConfForVos). A node is a dynamic node:
 * register creates it (`scontrol create … Feature=<vo> State=FUTURE`) so that
 * the guest's `slurmd -Z` adopts it, and waits until it is available in the
 * partition; drain sets DRAIN (no new job), waits until no job holds it, then
 * `scontrol delete`s it. slurmctld refuses to delete a node that still has a
 * job, so no step can kill one. All state lives in slurmctld; every step is
 * idempotent.
 */
export class SlurmBatchSystem implements BatchSystem {
  readonly kind = 'slurm' as const;
  private readonly commands: BatchCommandRunner;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly deregisterTimeoutMs: number;
  private readonly drainReason: string;

  /** Throws InvalidArgumentError naming the bad option. */
  constructor(options: SlurmBatchSystemOptions = {}) {
    const env = options.env ?? process.env;
    const slurmConf = options.slurmConf === undefined ? env['SLURM_CONF'] : validateSafePath('slurmConf', options.slurmConf);
    const slurmEnv = slurmConf === undefined ? { ...env } : { ...env, SLURM_CONF: slurmConf };
    this.commands = new BatchCommandRunner(options, slurmEnv, (_, argv, result) => (result.code !== 0 ? classifySlurmFailure(argv, result) : undefined));
    ({ clock: this.clock, log: this.log, pollMs: this.pollMs } = this.commands);
    this.deregisterTimeoutMs = validateIntRange('deregisterTimeoutMs', options.deregisterTimeoutMs ?? 60_000, 0, 3_600_000);
    this.drainReason = options.drainReason ?? 'vonode-drain';
    // one scontrol argument (Reason=…): one word
    if (!/^[A-Za-z0-9_.:@-]{1,64}$/.test(this.drainReason)) {
      throw new InvalidArgumentError('drainReason', `"${this.drainReason}" must be 1-64 characters from [A-Za-z0-9_.:@-]`);
    }
  }

  /**
   * Checks that every VO's partition exists and accepts jobs (one without
   * nodes does: its jobs wait with reason PartitionConfig). A partition fed by
   * a NodeSet can only be defined in slurm.conf, so a missing one is an error
   * that names the lines to add (slurmConfForVos); one not fed by the VO's
   * NodeSet (ns_<vo>) is only logged, as register checks each node's
   * membership anyway. Throws InvalidArgumentError on a bad name,
   * SlurmPartitionError when a partition is missing or INACTIVE, a
   * SlurmCommandError if scontrol fails.
   */
  async prepare(vos: ReadonlyArray<{ vo: string; queue: string }>): Promise<void> {
    vos.forEach(({ vo, queue }, i) => {
      validateVoName(`vos[${i}].vo`, vo);
      validatePartitionName(`vos[${i}].queue`, queue);
    });
    const partitions = parseScontrolPartitions((await this.scontrol(['--oneliner', 'show', 'partition'])).stdout);
    for (const { vo, queue } of vos) {
      const partition = partitions.find((p) => p.name === queue);
      if (!partition) throw new SlurmPartitionError(queue, `is not in slurm.conf; add:\n${slurmConfForVos([{ vo, partition: queue }])}`);
      if (partition.state === 'INACTIVE') throw new SlurmPartitionError(queue, 'is INACTIVE and rejects jobs (set State=UP in slurm.conf)');
      if (partition.state !== 'UP') this.log.warn({ partition: queue, state: partition.state }, 'slurm: VO partition is not UP: its jobs wait');
      if (!partition.nodeSets.includes(nodeSetName(vo))) {
        this.log.warn({ partition: queue, vo, nodeSets: partition.nodeSets }, `slurm: VO partition is not fed by NodeSet ${nodeSetName(vo)} (Feature=${vo})`);
      }
    }
    this.log.info({ partitions: vos.map((v) => v.queue) }, 'slurm: VO partitions ready');
  }

  /**
   * Pending and running jobs per queue (partition) from one `squeue --json`
   * snapshot (see demandPerPartition for what counts). Throws on a bad
   * partition name, or if squeue fails or reports an error.
   */
  async demand(queues: readonly string[]): Promise<Map<string, QueueDemand>> {
    queues.forEach((q, i) => validatePartitionName(`queues[${i}]`, q));
    return demandPerPartition(await this.jobs(), queues);
  }

  /**
   * Creates the dynamic node (FUTURE, Feature=<vo>, CPUs=slots, the lease's
   * address) unless slurmctld knows it already, then waits until it is
   * available in the queue's partition (SR end). The guest's `slurmd -Z -N
   * <hostname>` may start before or after: after, it adopts the created node;
   * before, it should pass `--conf Feature=<vo>` (a node that registered
   * itself without features is given the VO's feature and slurmctld is told
   * to reconfigure, which is what updates NodeSet membership in 22.05).
   * Rejects with the signal's reason when aborted, InvalidArgumentError on a
   * bad node, SlurmNodeConflictError when the node belongs elsewhere or its
   * registration was rejected, a SlurmCommandError if a command fails.
   */
  async register(batchNode: BatchNode, signal: AbortSignal): Promise<void> {
    const { node } = batchNode;
    const hostname = validateHostname('node.hostname', node.hostname);
    const ip = validateIpv4('node.ip', node.ip);
    const vo = validateVoName('node.vo', node.vo);
    const partition = validatePartitionName('queue', batchNode.queue);
    const slots = validateIntRange('slots', batchNode.slots, 1, 4096);
    const started = this.clock.monotonicMs();

    signal.throwIfAborted();
    let known = await this.node(hostname);
    if (!known) {
      await this.scontrol(['create', `NodeName=${hostname}`, `NodeAddr=${ip}`, `NodeHostname=${hostname}`, `CPUs=${slots}`, `Feature=${vo}`, 'State=FUTURE']);
      // scontrol create exits 0 when slurmctld refused (node table full at
      // MaxNodeCount, or a slurmd registered the name meanwhile): look again
      known = await this.node(hostname);
      if (!known) throw new SlurmNodeConflictError(hostname, 'scontrol create succeeded but slurmctld has no such node (MaxNodeCount reached? see the slurmctld log)');
    }
    if (known.features.length === 0) {
      this.log.warn({ hostname, vo }, 'slurm: node registered itself without features; giving it the VO feature');
      await this.scontrol(['update', `NodeName=${hostname}`, `AvailableFeatures=${vo}`, `ActiveFeatures=${vo}`]);
      await this.scontrol(['reconfigure']);
      known = (await this.node(hostname)) ?? known;
    } else if (!known.features.includes(vo)) {
      throw new SlurmNodeConflictError(hostname, `is known with feature(s) ${known.features.join(',')}, not ${vo}`);
    }
    if (!known.partitions.includes(partition)) {
      throw new SlurmNodeConflictError(
        hostname,
        `has Feature=${vo} but is not in partition ${partition} (in: ${known.partitions.join(',') || 'none'}); the partition needs Nodes=<NodeSet with Feature=${vo}> (slurmConfForVos)`,
      );
    }
    const configuredMs = this.clock.monotonicMs() - started;

    let last = '';
    for (;;) {
      signal.throwIfAborted();
      const current = await this.node(hostname);
      if (current && availableIn(current, partition)) break;
      if (current?.flags.includes('INVALID_REG')) {
        throw new SlurmNodeConflictError(hostname, `slurmctld rejected its slurmd's registration: ${current.reason || 'no reason given'}`);
      }
      const seen = current ? `${current.state}+${current.flags.join('+')}` : 'gone';
      if (seen !== last) this.log.debug({ hostname, state: seen }, 'slurm: waiting for the node to become available');
      last = seen;
      await this.clock.sleep(this.pollMs, signal);
    }
    const srMs = this.clock.monotonicMs() - started;
    this.log.info({ hostname, partition, vo, slots, configuredMs, srMs }, 'slurm: node available');
  }

  /**
   * Sets the node DRAIN (it takes no new job), waits until no job holds it
   * (polling squeue), then deletes it. Never kills a job: slurmctld refuses
   * to delete a node with jobs, and drain then simply waits longer. A node
   * slurmctld does not know is already drained. Rejects with the signal's
   * reason when aborted (the node stays drained).
   */
  async drain(node: NodeRecord, signal: AbortSignal): Promise<void> {
    const hostname = validateHostname('node.hostname', node.hostname);
    signal.throwIfAborted();
    try {
      await this.scontrol(['update', `NodeName=${hostname}`, 'State=DRAIN', `Reason=${this.drainReason}`]);
    } catch (err) {
      if (!(err instanceof SlurmNodeNotFoundError)) throw err;
      this.log.info({ hostname }, 'slurm: drain: node unknown to slurmctld; nothing to do');
      return;
    }
    let waitingFor = -1;
    let idleSinceMs: number | undefined;
    for (;;) {
      signal.throwIfAborted();
      const running = jobsOnNode(await this.jobs(), hostname).length;
      if (running === 0) {
        idleSinceMs ??= this.clock.monotonicMs();
        const outcome = await this.deleteNode(hostname);
        if (outcome !== 'busy') break;
      } else {
        idleSinceMs = undefined;
        if (running !== waitingFor) this.log.info({ hostname, running }, 'slurm: drain: waiting for running jobs');
        waitingFor = running;
      }
      await this.clock.sleep(this.pollMs, signal);
    }
    const deleteMs = Math.round(this.clock.monotonicMs() - (idleSinceMs ?? this.clock.monotonicMs()));
    this.log.info({ hostname, deleteMs }, 'slurm: node drained and deleted');
  }

  /**
   * Deletes the node. Idempotent: a node slurmctld does not know is gone
   * already. A node that still holds jobs is deleted only if slurmctld no
   * longer hears its slurmd (its VM is gone, so are its jobs): it is set DOWN,
   * which makes slurmctld requeue or end them, and deleted once released
   * (waits up to deregisterTimeoutMs). A responding node with jobs is left
   * alone: throws SlurmNodeBusyError (drain it instead). Throws
   * InvalidArgumentError on a bad name, a SlurmCommandError if a command fails.
   */
  async deregister(hostname: string): Promise<void> {
    validateHostname('hostname', hostname);
    const deadline = this.clock.monotonicMs() + this.deregisterTimeoutMs;
    let markedDown = false;
    for (;;) {
      const outcome = await this.deleteNode(hostname);
      if (outcome !== 'busy') {
        this.log.info({ hostname, outcome }, 'slurm: node deregistered');
        return;
      }
      const node = await this.node(hostname);
      if (!node) continue; // deleted by someone else meanwhile: the next delete says so
      if (nodeState(node) !== 'unreachable') {
        throw new SlurmNodeBusyError(['scontrol', 'delete', `NodeName=${hostname}`], {
          code: 1,
          stdout: '',
          stderr: `node ${hostname} still runs jobs and its slurmd responds: drain it instead of deregistering`,
        });
      }
      if (!markedDown) {
        this.log.warn({ hostname, state: node.state, flags: node.flags }, 'slurm: deregister: node unreachable with jobs; setting it DOWN');
        await this.scontrol(['update', `NodeName=${hostname}`, 'State=DOWN', 'Reason=vonode-node-gone']);
        markedDown = true;
      }
      if (this.clock.monotonicMs() > deadline) {
        throw new SlurmNodeBusyError(['scontrol', 'delete', `NodeName=${hostname}`], {
          code: 1,
          stdout: '',
          stderr: `slurmctld did not release the jobs of unreachable node ${hostname} within ${this.deregisterTimeoutMs} ms`,
        });
      }
      await this.clock.sleep(this.pollMs);
    }
  }

  /**
   * Every dynamic node (created at run time, so vonode's; nodes from
   * slurm.conf are not reported) with its vonode state and the jobs holding
   * it. A node in no partition has queue ''. Throws if a command fails.
   */
  async hosts(): Promise<BatchHost[]> {
    const [nodes, jobs] = await Promise.all([this.nodes(), this.jobs()]);
    return nodes.filter(isDynamicNode).map((n) => ({
      hostname: n.name,
      queue: n.partitions[0] ?? '',
      state: nodeState(n),
      runningJobs: jobsOnNode(jobs, n.name).length,
    }));
  }

  /** All nodes: sinfo's JSON for registered ones, `scontrol --future` for the FUTURE ones sinfo never lists. */
  private async nodes(): Promise<SlurmNode[]> {
    const [sinfo, all] = await Promise.all([this.run(['sinfo', '--json']), this.run(['scontrol', '--future', '--oneliner', 'show', 'node'])]);
    const registered = parseSinfoNodes(sinfo.stdout);
    const names = new Set(registered.map((n) => n.name));
    return [...registered, ...parseScontrolNodes(all.stdout).filter((n) => !names.has(n.name))];
  }

  /** One node (FUTURE included), or undefined if slurmctld does not know it. */
  private async node(hostname: string): Promise<SlurmNode | undefined> {
    try {
      const result = await this.run(['scontrol', '--future', '--oneliner', 'show', 'node', hostname]);
      return parseScontrolNodes(result.stdout).find((n) => n.name === hostname);
    } catch (err) {
      if (err instanceof SlurmNodeNotFoundError) return undefined;
      throw err;
    }
  }

  private async jobs(): Promise<SlurmJob[]> {
    return parseSqueueJobs((await this.run(['squeue', '--json'])).stdout);
  }

  /** `scontrol delete`: 'deleted', 'absent' (not known), or 'busy' (jobs still hold it). */
  private async deleteNode(hostname: string): Promise<'deleted' | 'absent' | 'busy'> {
    try {
      await this.scontrol(['delete', `NodeName=${hostname}`]);
      return 'deleted';
    } catch (err) {
      if (err instanceof SlurmNodeNotFoundError) return 'absent';
      if (err instanceof SlurmNodeBusyError) return 'busy';
      throw err;
    }
  }

  private scontrol(args: string[]): Promise<CommandResult> {
    return this.run(['scontrol', ...args]);
  }

  /** Runs a Slurm command; throws the classified error when it exits non-zero. */
  private run(argv: string[]): Promise<CommandResult> {
    return this.commands.run(argv);
  }
}
