import type { BatchCommandOptions } from '../batch-command-options.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../../../shared/clock.js';
import { FailedPreconditionError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { CommandResult } from '../../../shared/process/command-runner.js';
import { validateHostname, validateIntRange, validateVoName } from '../../../shared/validation.js';
import type { NodeRecord } from '../../store/records.js';
import { BatchCommandRunner } from '../batch-command-runner.js';
import type { BatchHost, BatchNode, BatchSystem, QueueDemand } from '../batch-system.js';
import {
  gidRangeFor,
  hostList,
  parseQconfAttributes,
  renderClusterQueue,
  renderExecHost,
  renderHostConfig,
  renderHostgroup,
  validateHostgroup,
  validateQueueName,
  voHostgroup,
} from './qconf-files.js';
import {
  classifySgeFailure,
  qconfFailedSilently,
  SgeAlreadyExistsError,
  SgeNotFoundError,
  SgeQmasterUnreachableError,
  SgeUnknownHostError,
  type SgeCommandError,
} from './sge-errors.js';
import {
  acceptsJobs,
  demandPerQueue,
  instanceState,
  parseQstatJobs,
  parseQueueInstances,
  type SgeQueueInstance,
} from './sge-xml.js';

/** Writes the file a `qconf -A…` command reads; the file's name matters for -Aconf (it names the configuration). */
export interface QconfFileWriter {
  /** Writes `content` to a fresh file called `name`, runs `use` with its path, then removes it. */
  withFile<T>(name: string, content: string, use: (file: string) => Promise<T>): Promise<T>;
}

/** The real writer: a private temporary directory per file under os.tmpdir(). */
export const tempFileWriter: QconfFileWriter = {
  async withFile(name, content, use) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-qconf-'));
    try {
      const file = path.join(dir, name);
      await writeFile(file, content, { mode: 0o644 });
      return await use(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** Options of SgeBatchSystem; every field but placeholderHost has a default. */
export interface SgeBatchSystemOptions extends BatchCommandOptions {
  /** Host of each VO queue's 0-slot disabled placeholder instance, usually the qmaster's; never reported by hosts(). */
  placeholderHost: string;
  /** SGE_ROOT for every command. Default: env.SGE_ROOT, else /var/lib/gridengine (Debian). */
  sgeRoot?: string;
  /** SGE_CELL for every command. Default: env.SGE_CELL, else "default". */
  sgeCell?: string;
  /** First group id of the per-node gid ranges. Default 20000. */
  gidRangeBase?: number;
  /** Group ids per node; also the most slots a node may have. Default 100. */
  gidRangeSize?: number;
  /** Default: tempFileWriter. */
  files?: QconfFileWriter;
}

type ErrorClass = abstract new (...args: never[]) => SgeCommandError;

/**
 * The SGE (Grid Engine 8.1.9) adapter: a node becomes an exec host with its
 * own gid_range and joins its VO's host group (@vo), so the VO's queue gets an
 * instance on it; draining disables that instance, waits for its jobs and
 * removes every trace of the host. All state lives in the qmaster: any
 * instance (or a restarted coordinator) sees the same. Every step is
 * idempotent, so a failed call can simply be repeated.
 */
export class SgeBatchSystem implements BatchSystem {
  readonly kind = 'sge' as const;
  private readonly placeholderHost: string;
  private readonly commands: BatchCommandRunner;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly gidBase: number;
  private readonly gidSize: number;
  private readonly files: QconfFileWriter;

  /** Throws InvalidArgumentError naming the bad option. */
  constructor(options: SgeBatchSystemOptions) {
    const env = options.env ?? process.env;
    this.placeholderHost = validateHostname('placeholderHost', options.placeholderHost);
    const sgeEnv = {
      ...env,
      SGE_ROOT: options.sgeRoot ?? env['SGE_ROOT'] ?? '/var/lib/gridengine',
      SGE_CELL: options.sgeCell ?? env['SGE_CELL'] ?? 'default',
    };
    // qconf exits 0 on a few errors: its "error:" lines are failures too
    this.commands = new BatchCommandRunner(options, sgeEnv, (program, argv, result) =>
      result.code !== 0 || (program === 'qconf' && qconfFailedSilently(result)) ? classifySgeFailure(argv, result) : undefined,
    );
    ({ clock: this.clock, log: this.log, pollMs: this.pollMs } = this.commands);
    this.gidBase = validateIntRange('gidRangeBase', options.gidRangeBase ?? 20_000, 1000, 2 ** 31 - 1);
    this.gidSize = validateIntRange('gidRangeSize', options.gidRangeSize ?? 100, 1, 10_000);
    this.files = options.files ?? tempFileWriter;
  }

  /**
   * Creates the VO's host group and cluster queue if missing, with the
   * 0-slot disabled placeholder instance that keeps the queue accepting jobs
   * while it has no node. On an existing queue, adds the host group and the
   * placeholder if they are missing. Idempotent. Throws InvalidArgumentError
   * on a bad name, an SgeCommandError if qconf fails.
   */
  /** ensureVoQueue for every VO (BatchSystem.prepare). */
  async prepare(vos: ReadonlyArray<{ vo: string; queue: string }>): Promise<void> {
    for (const { vo, queue } of vos) await this.ensureVoQueue(queue, voHostgroup(vo));
  }

  async ensureVoQueue(queue: string, hostgroup: string): Promise<void> {
    validateQueueName('queue', queue);
    validateHostgroup('hostgroup', hostgroup);
    const placeholder = this.placeholderHost;
    if (!(await this.exists(['-shgrp', hostgroup]))) {
      await this.qconfFile('hostgroup', renderHostgroup(hostgroup), '-Ahgrp', [SgeAlreadyExistsError]);
    }
    const shown = await this.qconfOptional(['-sq', queue]);
    if (shown === undefined) {
      await this.qconfFile('queue', renderClusterQueue({ queue, hostgroup, placeholderHost: placeholder }), '-Aq', [SgeAlreadyExistsError]);
    } else {
      const hosts = hostList(parseQconfAttributes(shown.stdout).get('hostlist'));
      if (!hosts.includes(hostgroup)) await this.qconf(['-aattr', 'queue', 'hostlist', hostgroup, queue]);
      if (!hosts.includes(placeholder)) {
        await this.qconf(['-aattr', 'queue', 'hostlist', placeholder, queue]);
        await this.qconf(['-mattr', 'queue', 'slots', `[${placeholder}=0]`, queue]);
      }
    }
    // new queues create it disabled (initial_state); an older queue may not
    await this.run(['qmod', '-d', `${queue}@${placeholder}`]);
    this.log.info({ queue, hostgroup, placeholder }, 'sge: VO queue ready');
  }

  /**
   * Pending and running jobs per queue from one `qstat -xml -u '*' -r`
   * snapshot (see demandPerQueue for what counts). Throws on a bad queue
   * name or if qstat fails.
   */
  async demand(queues: readonly string[]): Promise<Map<string, QueueDemand>> {
    queues.forEach((q, i) => validateQueueName(`queues[${i}]`, q));
    const result = await this.run(['qstat', '-xml', '-u', '*', '-r']);
    return demandPerQueue(parseQstatJobs(result.stdout), queues);
  }

  /**
   * Adds the exec host, its host-local configuration (own gid_range) and its
   * slots in the queue, puts it into the VO's host group, then waits until
   * `queue@host` takes jobs (SR end). The qmaster refuses an execd whose
   * host is not an exec host yet, and that execd exits: call this as soon as
   * the node's name resolves (it may be before the VM boots). Rejects with the signal's reason when aborted, InvalidArgumentError on a
   * bad node, an SgeCommandError if a command fails.
   */
  async register(batchNode: BatchNode, signal: AbortSignal): Promise<void> {
    const { node } = batchNode;
    const hostname = validateHostname('node.hostname', node.hostname);
    const hostgroup = voHostgroup(validateVoName('node.vo', node.vo));
    const queue = validateQueueName('queue', batchNode.queue);
    const slots = validateIntRange('slots', batchNode.slots, 1, this.gidSize);
    const config = renderHostConfig(gidRangeFor(node.ip, this.gidBase, this.gidSize));
    const started = this.clock.monotonicMs();

    signal.throwIfAborted();
    await this.qconfFile('exechost', renderExecHost(hostname), '-Ae', [SgeAlreadyExistsError]);
    const added = await this.qconfFile(hostname, config, '-Aconf', [SgeAlreadyExistsError]);
    if (added === undefined) await this.qconfFile(hostname, config, '-Mconf'); // a config left from an earlier life
    await this.qconf(['-aattr', 'hostgroup', 'hostlist', hostname, hostgroup]);
    await this.qconf(['-mattr', 'queue', 'slots', `[${hostname}=${slots}]`, queue]);
    const configuredMs = Math.round(this.clock.monotonicMs() - started);

    for (;;) {
      signal.throwIfAborted();
      const instance = (await this.instancesOf(`${queue}@${hostname}`))[0];
      if (instance && acceptsJobs(instance)) break;
      await this.clock.sleep(this.pollMs, signal);
    }
    const srMs = Math.round(this.clock.monotonicMs() - started);
    this.log.info({ hostname, queue, hostgroup, slots, configuredMs, srMs }, 'sge: node available');
  }

  /**
   * Disables every queue instance of the node (no new job starts there),
   * waits until none of its jobs runs (polling qstat), then deregisters it.
   * Never kills a job. A node SGE does not know is only deregistered.
   * Rejects with the signal's reason when aborted (the node stays disabled).
   * A vanished node's jobs stay listed, so its drain waits for the signal:
   * deregister such a node instead (hosts() reports it unreachable).
   */
  async drain(node: NodeRecord, signal: AbortSignal): Promise<void> {
    const hostname = validateHostname('node.hostname', node.hostname);
    signal.throwIfAborted();
    const disabled = await this.runOptional(['qmod', '-d', `*@${hostname}`]);
    if (disabled === undefined) this.log.info({ hostname }, 'sge: drain: host has no queue instance');
    let waitingFor = -1;
    for (;;) {
      signal.throwIfAborted();
      const running = (await this.instancesOf(`*@${hostname}`)).reduce((n, i) => n + i.jobs.length, 0);
      if (running === 0) break;
      if (running !== waitingFor) this.log.info({ hostname, running }, 'sge: drain: waiting for running jobs');
      waitingFor = running;
      await this.clock.sleep(this.pollMs, signal);
    }
    const lastJobGoneMs = this.clock.monotonicMs();
    await this.deregister(hostname);
    this.log.info({ hostname, deregisterMs: Math.round(this.clock.monotonicMs() - lastJobGoneMs) }, 'sge: node drained and removed');
  }

  /**
   * Removes every trace of the host: its per-host slots in each queue, its
   * host group memberships, its execd (told to stop, if it still runs), the
   * exec host and its host-local configuration. Idempotent: what is already
   * gone is skipped. Does not wait for jobs (drain does): jobs still listed
   * on an unreachable node are rescheduled; on a reachable one they make it
   * throw FailedPreconditionError. Throws InvalidArgumentError on a bad name,
   * an SgeCommandError if a step fails.
   */
  async deregister(hostname: string): Promise<void> {
    validateHostname('hostname', hostname);
    const instances = await this.instancesOf(`*@${hostname}`);
    const stranded = instances.flatMap((i) => i.jobs.map((j) => j.id));
    if (stranded.length > 0) await this.rescheduleStranded(hostname, instances, stranded);
    const queues = new Set(instances.map((i) => i.queue));
    for (const queue of queues) {
      // prints "… not found" (exit 0) when there is no per-host value
      await this.qconf(['-purge', 'queue', 'slots', `${queue}@${hostname}`]);
    }
    for (const hostgroup of await this.hostgroupsOf(hostname)) {
      await this.qconf(['-dattr', 'hostgroup', 'hostlist', hostname, hostgroup]);
    }
    try {
      await this.qconf(['-ke', hostname]);
    } catch (err) {
      if (err instanceof SgeQmasterUnreachableError) throw err;
      if (err instanceof SgeUnknownHostError) {
        // the qmaster cannot resolve the name, so it cannot hold it either
        // (unless DNS lost it after registration: nothing here can fix that)
        this.log.warn({ hostname }, 'sge: deregister: the qmaster cannot resolve the name; nothing to remove');
        return;
      }
      if (!(err instanceof SgeNotFoundError)) this.log.warn({ hostname, err }, 'sge: could not tell the execd to stop; deleting the host anyway');
    }
    await this.qconfOptional(['-de', hostname]);
    await this.qconfOptional(['-dconf', hostname]);
    this.log.info({ hostname }, 'sge: host deregistered');
  }

  /**
   * Every queue instance except the placeholders, with its state
   * (unreachable once its execd is unheard for max_unheard) and running
   * jobs, from one `qstat -f -xml -u '*'`. Throws if qstat fails.
   */
  async hosts(): Promise<BatchHost[]> {
    const result = await this.run(['qstat', '-f', '-xml', '-u', '*']);
    return parseQueueInstances(result.stdout)
      .filter((i) => i.host !== this.placeholderHost)
      .map((i) => ({ hostname: i.host, queue: i.queue, state: instanceState(i), runningJobs: i.jobs.length }));
  }

  /**
   * Jobs SGE still lists on a host being forgotten. On a vanished node
   * (unreachable) they died with it: forcibly reschedule them, so they wait
   * for another node instead of holding the host (and the queue instance)
   * until max_unheard-based rescheduling that defaults to never. On a node
   * that still reports, they are alive: refuse, it must be drained first.
   */
  private async rescheduleStranded(hostname: string, instances: SgeQueueInstance[], jobs: number[]): Promise<void> {
    if (!instances.every((i) => instanceState(i) === 'unreachable')) {
      throw new FailedPreconditionError(`${hostname} still runs job(s) ${jobs.join(', ')}: drain it before deregistering`);
    }
    this.log.warn({ hostname, jobs }, 'sge: deregister: rescheduling the jobs of a vanished node');
    await this.run(['qmod', '-f', '-rq', `*@${hostname}`]);
    for (let i = 0; ; i++) {
      const left = (await this.instancesOf(`*@${hostname}`)).reduce((n, q) => n + q.jobs.length, 0);
      if (left === 0) return;
      if (i >= 50) throw new FailedPreconditionError(`${hostname}: ${left} job(s) still listed after rescheduling`);
      await this.clock.sleep(this.pollMs);
    }
  }

  /** Queue instances matching a `qstat -q` pattern (queue@host, *@host), with all users' jobs; [] when none matches. */
  private async instancesOf(pattern: string): Promise<SgeQueueInstance[]> {
    const result = await this.runOptional(['qstat', '-f', '-xml', '-u', '*', '-q', pattern]);
    return result === undefined ? [] : parseQueueInstances(result.stdout);
  }

  /** The host groups whose host list names the host. */
  private async hostgroupsOf(hostname: string): Promise<string[]> {
    const list = await this.qconfOptional(['-shgrpl']);
    const all = list?.stdout.split('\n').map((l) => l.trim()).filter(Boolean) ?? [];
    const shown = await Promise.all(all.map((group) => this.qconfOptional(['-shgrp', group])));
    return all.filter((_, i) => hostList(parseQconfAttributes(shown[i]?.stdout ?? '').get('hostlist')).includes(hostname));
  }

  private async exists(args: string[]): Promise<boolean> {
    return (await this.qconfOptional(args)) !== undefined;
  }

  /** Runs `qconf -A…/-M… FILE` with a file called `name`; undefined if it failed with one of `allowed`. */
  private qconfFile(name: string, content: string, option: string, allowed: ErrorClass[] = []): Promise<CommandResult | undefined> {
    return this.files.withFile(name, content, (file) => this.tolerate(this.qconf([option, file]), allowed));
  }

  private qconf(args: string[]): Promise<CommandResult> {
    return this.run(['qconf', ...args]);
  }

  /** qconf, or undefined if the object does not exist. */
  private qconfOptional(args: string[]): Promise<CommandResult | undefined> {
    return this.tolerate(this.qconf(args), [SgeNotFoundError]);
  }

  private runOptional(argv: string[]): Promise<CommandResult | undefined> {
    return this.tolerate(this.run(argv), [SgeNotFoundError]);
  }

  private async tolerate(pending: Promise<CommandResult>, allowed: ErrorClass[]): Promise<CommandResult | undefined> {
    try {
      return await pending;
    } catch (err) {
      if (allowed.some((cls) => err instanceof cls)) return undefined;
      throw err;
    }
  }

  /** Runs an SGE command; throws the classified error when it fails (for qconf also when it says "error:" but exits 0). */
  private run(argv: string[]): Promise<CommandResult> {
    return this.commands.run(argv);
  }
}
