import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { DeployFailureCause } from '../deploy/deploy-failure.js';
import type { Appliance, Policy, VoPolicy } from '../policy/policy-schema.js';
import type { OperationRecord } from '../store/records.js';
import { DeployBackoff, type DeployHold } from './deploy-backoff.js';

/** What the holds work with. */
export interface DeployHoldsDeps {
  clock: Clock;
  logger: Logger;
  /** The backoff arithmetic (default: 5 s doubling up to 5 min). */
  backoff?: DeployBackoff;
}

/** The operation fields a hold reads. */
export type FinishedOperation = Pick<OperationRecord, 'kind' | 'state' | 'vo' | 'error' | 'createdMs'>;

// Causes that come from what the policy says of a VO, and the parts of its policy that fix them.
const FIXED_BY: Partial<Record<DeployFailureCause, ReadonlyArray<'appliance' | 'vm'>>> = {
  image: ['appliance'],
  'image-source': ['appliance'],
  request: ['appliance', 'vm'],
};

/**
 * The site's per-VO deployment holds (DeployBackoff) and what feeds them:
 * every deployment that ends for good, manual or automatic (a failure holds
 * back the scaling loop's next ones for that VO, a success lifts the hold),
 * and policy changes (a hold caused by the VO's image or VM spec is lifted
 * as soon as the policy changes that part of the VO: a fixed policy need not
 * wait out the backoff). `vonode status` shows them; only the scaling loop
 * obeys them, manual deployments are never held.
 */
export class DeployHolds {
  private readonly backoff: DeployBackoff;

  constructor(private readonly deps: DeployHoldsDeps) {
    this.backoff = deps.backoff ?? new DeployBackoff();
  }

  /**
   * Told when an operation ended for good (succeeded, or failed with no retry
   * left), whoever submitted it, with what made a failed deployment fail.
   * Other kinds and states are ignored.
   */
  onOperationFinished(op: FinishedOperation, cause: DeployFailureCause = 'other'): void {
    if (op.kind !== 'deploy' || (op.state !== 'succeeded' && op.state !== 'failed')) return;
    const { logger, clock } = this.deps;
    const before = this.backoff.snapshot().get(op.vo);
    const hold = this.backoff.record({ vo: op.vo, succeeded: op.state === 'succeeded', error: op.error, submittedMs: op.createdMs, cause }, clock.nowMs());
    if (hold) {
      const parts = FIXED_BY[cause];
      const fix = parts
        ? `fix vos.${op.vo}.${parts.join(' or vos.' + op.vo + '.')} in the policy ('vonode policy check'): a change there lifts the hold at once`
        : `check the VO's appliance in the policy ('vonode policy check') and the agent logs`;
      logger.warn(
        { vo: op.vo, failures: hold.failures, delayMs: hold.delayMs, lastError: hold.lastError, cause },
        `deployments of VO ${op.vo} failed (${hold.failures} since its last success): no new ones for ${Math.round(hold.delayMs / 1000)} s; ${fix}`,
      );
    } else if (before && op.state === 'succeeded') {
      logger.info({ vo: op.vo, failures: before.failures }, `a deployment of VO ${op.vo} succeeded: deployments no longer held back`);
    }
  }

  /**
   * Told when a new policy is in force: lifts the hold of each VO whose last
   * failure came from a part of its policy that changed (image or image
   * source: its appliance; an invalid VM: its appliance or vm). Returns the
   * VOs released.
   */
  onPolicyChange(policy: Pick<Policy, 'vos'>, previous: Pick<Policy, 'vos'>): string[] {
    const released: string[] = [];
    const before = new Map(previous.vos.map((v) => [v.name, v]));
    for (const [vo, hold] of this.backoff.snapshot()) {
      const parts = FIXED_BY[hold.cause];
      const now = policy.vos.find((v) => v.name === vo);
      const then = before.get(vo);
      if (!parts || !now || !then || !parts.some((part) => changed(part, now, then))) continue;
      this.backoff.clear(vo);
      released.push(vo);
      this.deps.logger.info(
        { vo, failures: hold.failures, cause: hold.cause },
        `the policy changed VO ${vo}'s ${parts.join(' or ')} after its deployments failed (${hold.cause}): deployments no longer held back`,
      );
    }
    return released;
  }

  /** True while the scaling loop must not submit new deployments of the VO. */
  isHeld(vo: string, nowMs: number): boolean {
    return this.backoff.isHeld(vo, nowMs);
  }

  /** The VOs whose new deployments must wait now. */
  heldVos(nowMs: number): Set<string> {
    return this.backoff.heldVos(nowMs);
  }

  /** Every VO with failed deployments since its last success (held now or not). */
  snapshot(): ReadonlyMap<string, Readonly<DeployHold>> {
    return this.backoff.snapshot();
  }

  /** Forgets VOs that are not in `vos` (they left the policy). */
  retain(vos: Iterable<string>): void {
    this.backoff.retain(vos);
  }
}

/** Whether `part` of a VO's policy differs between two versions. */
function changed(part: 'appliance' | 'vm', now: VoPolicy, then: VoPolicy): boolean {
  if (part === 'vm') return now.vm.vcpus !== then.vm.vcpus || now.vm.memoryMb !== then.vm.memoryMb;
  return applianceKey(now.appliance) !== applianceKey(then.appliance);
}

/** Every field of an appliance in a fixed order (the parsed policy's key order is not something to rely on). */
function applianceKey(a: Appliance): string {
  const ref = (r: { url: string; sha256: string } | undefined): string[] => [r?.url ?? '', r?.sha256 ?? ''];
  return JSON.stringify([...ref(a.disk), a.disk.sizeBytes ?? null, ...ref(a.kernel), ...ref(a.initrd), a.cmdline ?? null]);
}
