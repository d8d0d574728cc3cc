import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { BatchSystem } from '../lrms/batch-system.js';
import type { Policy } from '../policy/policy-schema.js';
import { policyToClaims } from '../policy/policy-schema.js';
import type { NodeRecord, OperationRecord } from '../store/records.js';
import type { DeployFailureCause } from '../deploy/deploy-failure.js';
import type { DeployHold } from './deploy-backoff.js';
import { DeployHolds } from './deploy-holds.js';
import { fairShareTargets, type Targets } from './fair-share.js';
import { applyHysteresis } from './scaling-hysteresis.js';
import { planScaling, type ScalingPlan } from './scaling-plan.js';

/** What the loop reads and drives. */
export interface ScalingLoopDeps {
  policy(): Policy;
  batch: Pick<BatchSystem, 'demand' | 'hosts'>;
  nodes(): NodeRecord[];
  /** Nodes the site can hold (the pool size). */
  capacity(): number;
  poolFree(): number;
  submitDeploy(vo: string, count: number): void;
  submitDrain(hostname: string): void;
  /** Removes a node at once (its batch daemon vanished: there is no job left to wait for). */
  submitRemove(hostname: string): void;
  clock: Clock;
  logger: Logger;
  /**
   * The site's deployment holds: new deployments of a VO whose deployments
   * fail are held back (5 s doubling up to 5 min). The coordinator shares
   * one with its status view; by default the loop keeps its own.
   */
  deployHolds?: DeployHolds;
}

/** Target and demand (in nodes) of one VO, for `vonode status`. */
export interface VoTarget {
  target: number;
  demand: number;
}

/** Lifecycle of the loop. */
export type ScalingLoopState = 'idle' | 'running' | 'stopped';

/**
 * Demand-driven scaling: every interval, read each VO queue's jobs from the
 * batch system, compute weighted max-min fair targets over the pool, hold
 * changes back by the policy's cooldowns, and submit deployments and drains
 * through the same queue as manual operations. A VO whose deployments fail
 * for good gets no new ones for a while (DeployBackoff), so a broken
 * appliance does not turn into a loop of failing deployments; its drains and
 * removals go on.
 */
export class ScalingLoop {
  state: ScalingLoopState = 'idle';
  private previous: Targets = {};
  private lastChangeMs: Record<string, number> = {};
  private readonly idleSince = new Map<string, number>();
  private vanished: string[] = [];
  private current = new Map<string, VoTarget>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private readonly holds: DeployHolds;

  constructor(private readonly deps: ScalingLoopDeps) {
    this.holds = deps.deployHolds ?? new DeployHolds({ clock: deps.clock, logger: deps.logger });
  }

  /** Starts ticking every `intervalMs` (the first tick at once). */
  start(intervalMs: number): void {
    this.state = 'running';
    const loop = (): void => {
      this.running = this.tick().then(
        () => undefined,
        (e: unknown) => this.deps.logger.warn({ err: errorMessage(e) }, 'scaling pass failed; trying again next interval'),
      );
      void this.running.then(() => {
        if (this.state === 'running') this.timer = setTimeout(loop, intervalMs);
      });
    };
    loop();
  }

  /** Stops after the pass in progress. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.timer);
    await this.running;
  }

  /** The last computed target and demand per VO. */
  targets(): ReadonlyMap<string, VoTarget> {
    return this.current;
  }

  /** Every VO with deployments failed since its last success, and until when its new ones are held back. */
  deployHolds(): ReadonlyMap<string, Readonly<DeployHold>> {
    return this.holds.snapshot();
  }

  /**
   * Told when an operation ended for good (succeeded, or failed with no retry
   * left), whoever submitted it: a failed deployment holds back the VO's new
   * ones, a successful one lifts the hold (see DeployHolds). Other kinds are ignored.
   */
  onOperationFinished(op: Pick<OperationRecord, 'kind' | 'state' | 'vo' | 'error' | 'createdMs'>, cause?: DeployFailureCause): void {
    this.holds.onOperationFinished(op, cause);
  }

  /** One pass: demand → fair targets → cooldowns → actions. Returns what it submitted. */
  async tick(): Promise<ScalingPlan> {
    const { deps } = this;
    const policy = deps.policy();
    const now = deps.clock.nowMs();
    const demand = await deps.batch.demand(policy.vos.map((v) => v.queue));
    const jobsByVo = Object.fromEntries(policy.vos.map((v) => {
      const d = demand.get(v.queue);
      return [v.name, d ? d.pending + d.running : 0];
    }));
    const claims = policyToClaims(policy, jobsByVo);
    const capacity = deps.capacity();
    const raw = fairShareTargets(capacity, claims);
    const held = applyHysteresis({ nowMs: now, capacity, previous: this.previous, lastChangeMs: this.lastChangeMs, raw, cooldowns: policy.cooldowns });
    this.previous = held.targets;
    this.lastChangeMs = held.lastChangeMs;
    this.current = new Map(claims.map((c) => [c.vo, { target: held.targets[c.vo] ?? 0, demand: c.demand }]));
    const runningJobs = await this.trackIdle(now);
    this.holds.retain(policy.vos.map((v) => v.name));
    const plan = planScaling({
      targets: held.targets, nodes: deps.nodes(), runningJobs, idleSinceMs: this.idleSince, nowMs: now,
      idleBeforeDrainMs: policy.idleBeforeDrainMs, poolFree: deps.poolFree(), deployHeld: this.holds.heldVos(now),
    });
    for (const d of plan.deploy) deps.submitDeploy(d.vo, d.count);
    for (const h of plan.drain) deps.submitDrain(h);
    for (const h of this.vanished) deps.submitRemove(h);
    if (plan.deploy.length || plan.drain.length) deps.logger.info({ targets: held.targets, jobs: jobsByVo, ...plan }, 'scaling');
    return plan;
  }

  /** Running jobs per node from the batch system, updating when each node went idle and which vanished. */
  private async trackIdle(now: number): Promise<Map<string, number>> {
    const jobs = new Map<string, number>();
    const running = new Set(this.deps.nodes().filter((n) => n.state === 'running').map((n) => n.hostname));
    this.vanished = [];
    for (const h of await this.deps.batch.hosts()) {
      // Its daemon stopped reporting while vonode thought it ran: the VM died or hangs. Take it out (and its VM down).
      if (h.state === 'unreachable' && running.has(h.hostname)) this.vanished.push(h.hostname);
      if (h.state !== 'available' && h.state !== 'disabled') continue;
      jobs.set(h.hostname, h.runningJobs);
      if (h.runningJobs > 0) this.idleSince.delete(h.hostname);
      else if (!this.idleSince.has(h.hostname)) this.idleSince.set(h.hostname, now);
    }
    for (const name of [...this.idleSince.keys()]) if (!jobs.has(name)) this.idleSince.delete(name);
    return jobs;
  }
}
