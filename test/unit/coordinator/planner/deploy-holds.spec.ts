import { expect } from 'chai';
import { pino } from 'pino';
import { DeployHolds } from '../../../../coordinator/planner/deploy-holds.js';
import type { Policy, VoPolicy } from '../../../../coordinator/policy/policy-schema.js';
import type { Clock } from '../../../../shared/clock.js';
import { silentLogger } from '../../../../shared/logger.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function vo(name: string, sha256 = SHA_A, memoryMb = 512): VoPolicy {
  return {
    name, weight: 1, min: 0, max: 4, queue: `${name}.q`, slotsPerNode: 1, vm: { vcpus: 1, memoryMb },
    appliance: { disk: { url: `http://repo/${name}.qcow2`, sha256 } },
  };
}
const policy = (...vos: VoPolicy[]): Pick<Policy, 'vos'> => ({ vos });

describe('coordinator/planner/DeployHolds', () => {
  let t = 0;
  const clock: Clock = { monotonicMs: () => t, nowMs: () => t, sleep: async () => undefined };
  const failed = (name: string, createdMs = t) => ({ kind: 'deploy' as const, state: 'failed' as const, vo: name, error: `image of ${name} failed verification on phys-01: fix it`, createdMs });

  it('holds a VO after a failed deployment, manual or automatic, shows the reason and logs what lifts it', () => {
    t = 1_000;
    const logs: Array<{ level: number; msg: string }> = [];
    const holds = new DeployHolds({ clock, logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) }) });
    holds.onOperationFinished(failed('bio'), 'image');
    holds.onOperationFinished(failed('fusion'), 'request');
    expect(logs.filter((l) => l.level === 40).map((l) => l.msg)).to.deep.equal([
      "deployments of VO bio failed (1 since its last success): no new ones for 5 s; fix vos.bio.appliance in the policy ('vonode policy check'): a change there lifts the hold at once",
      "deployments of VO fusion failed (1 since its last success): no new ones for 5 s; fix vos.fusion.appliance or vos.fusion.vm in the policy ('vonode policy check'): a change there lifts the hold at once",
    ]);
    expect(holds.isHeld('bio', 1_001)).to.equal(true);
    expect(holds.snapshot().get('bio')).to.deep.include({ failures: 1, untilMs: 6_000, cause: 'image', lastError: 'image of bio failed verification on phys-01: fix it' });
  });

  it('lifts a hold caused by the image as soon as the policy changes that VO\'s appliance, and only that VO\'s', () => {
    t = 1_000;
    const holds = new DeployHolds({ clock, logger: silentLogger() });
    holds.onOperationFinished(failed('bio'), 'image');
    holds.onOperationFinished(failed('fusion'), 'image-source');
    // A change elsewhere (another VO, the VM size) does not lift it.
    expect(holds.onPolicyChange(policy(vo('bio', SHA_A, 1024), vo('fusion')), policy(vo('bio'), vo('fusion')))).to.deep.equal([]);
    expect(holds.isHeld('bio', 2_000)).to.equal(true);
    // The fixed sha256 of bio lifts bio's hold at once; fusion stays held.
    expect(holds.onPolicyChange(policy(vo('bio', SHA_B), vo('fusion')), policy(vo('bio'), vo('fusion')))).to.deep.equal(['bio']);
    expect(holds.isHeld('bio', 2_000)).to.equal(false);
    expect(holds.snapshot().has('bio')).to.equal(false);
    expect(holds.isHeld('fusion', 2_000)).to.equal(true);
    // A new image source for fusion lifts its hold too.
    const moved = { ...vo('fusion'), appliance: { disk: { url: 'http://repo2/fusion.qcow2', sha256: SHA_A } } };
    expect(holds.onPolicyChange(policy(vo('bio', SHA_B), moved), policy(vo('bio', SHA_B), vo('fusion')))).to.deep.equal(['fusion']);
    expect(holds.snapshot().size).to.equal(0);
  });

  it('lifts a hold for an invalid VM when the VM size changes, but not one the host or network caused', () => {
    t = 1_000;
    const holds = new DeployHolds({ clock, logger: silentLogger() });
    holds.onOperationFinished(failed('bio'), 'request');
    holds.onOperationFinished(failed('fusion'), 'other');
    holds.onOperationFinished(failed('alpha'));
    const before = policy(vo('bio'), vo('fusion'), vo('alpha'));
    const after = policy(vo('bio', SHA_A, 2048), vo('fusion', SHA_B), vo('alpha', SHA_B));
    expect(holds.onPolicyChange(after, before)).to.deep.equal(['bio']);
    expect([...holds.heldVos(2_000)].sort()).to.deep.equal(['alpha', 'fusion']);
  });

  it('keeps the hold of a VO that left the policy or is unchanged, and ignores other operations', () => {
    t = 1_000;
    const holds = new DeployHolds({ clock, logger: silentLogger() });
    holds.onOperationFinished(failed('bio'), 'image');
    holds.onOperationFinished({ ...failed('bio'), kind: 'drain' }, 'image');
    holds.onOperationFinished({ ...failed('bio'), state: 'retrying' }, 'image');
    expect(holds.snapshot().get('bio')?.failures).to.equal(1);
    expect(holds.onPolicyChange(policy(vo('fusion')), policy(vo('bio')))).to.deep.equal([]);
    expect(holds.onPolicyChange(policy(vo('bio')), policy(vo('bio')))).to.deep.equal([]);
    expect(holds.isHeld('bio', 2_000)).to.equal(true);
    holds.onOperationFinished({ ...failed('bio'), state: 'succeeded', error: '' });
    expect(holds.snapshot().size).to.equal(0);
  });
});
