import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { classifyDeployFailure, type DeployFailureCause } from '../../../../coordinator/deploy/deploy-failure.js';
import { DeadlineError } from '../../../../shared/errors.js';
import { AgentCallError } from '../../../../shared/rpc/agent-client.js';

const agent = (code: number, details: string): AgentCallError => new AgentCallError('Deploy', code, details);
const MISMATCH = 'image http://repo/bio.qcow2 has sha256 aa…, expected bb…: the download was corrupted or the policy names the wrong digest; it was discarded';

describe('coordinator/deploy/classifyDeployFailure', () => {
  // [what, error, retried on another host, cause, the operation's error]
  const cases: Array<[string, unknown, boolean, DeployFailureCause, RegExp]> = [
    ['an image that fails verification (FAILED_PRECONDITION)', agent(status.FAILED_PRECONDITION, MISMATCH), false, 'image',
      /^image of bio failed verification on phys-01: fix the repository or the policy's sha256 \(vos\.bio\.appliance\); not retried on other hosts \(agent: image http:\/\/repo\/bio\.qcow2 has sha256 aa…/],
    ['a sha256 mismatch from an older agent (DATA_LOSS)', agent(status.DATA_LOSS, MISMATCH), false, 'image', /^image of bio failed verification on phys-01: /],
    ['an image URL outside the allowed sources (PERMISSION_DENIED)', agent(status.PERMISSION_DENIED, 'vm.disk.url: http://evil/x is not an allowed image source'), false, 'image-source',
      /^the agent on phys-01 denied the deployment of bio: give vos\.bio\.appliance URLs from the agents' allowed image sources .*not retried on other hosts \(agent: vm\.disk\.url: http:\/\/evil\/x is not an allowed image source\)$/],
    ['an invalid VM spec (INVALID_ARGUMENT)', agent(status.INVALID_ARGUMENT, 'invalid vm.memory_mb: must be an integer from 32 to 4194304, got 5000000'), false, 'request',
      /^the agent on phys-01 refused the VM of bio as invalid: fix vos\.bio in the policy; not retried on other hosts \(agent: invalid vm\.memory_mb/],
    ['a host that cannot start the VM (UNAVAILABLE)', agent(status.UNAVAILABLE, 'qemu failed to start'), true, 'other', /^on phys-01: Deploy: qemu failed to start$/],
    ['a host out of memory (RESOURCE_EXHAUSTED)', agent(status.RESOURCE_EXHAUSTED, 'needs 512 MiB'), true, 'other', /^on phys-01: Deploy: needs 512 MiB$/],
    ['a phase timeout', new DeadlineError('phase VMR did not end within 1000 ms'), true, 'other', /^on phys-01: phase VMR did not end/],
    ['a plain error', new Error('socket hang up'), true, 'other', /^on phys-01: socket hang up$/],
  ];
  for (const [what, error, retryable, cause, reason] of cases) {
    it(`${retryable ? 'retries' : 'does not retry'} ${what} (cause ${cause})`, () => {
      const f = classifyDeployFailure('bio', 'phys-01', error);
      expect(f.retryable).to.equal(retryable);
      expect(f.cause).to.equal(cause);
      expect(f.reason).to.match(reason);
      expect(f.reason).to.not.include('\n');
    });
  }
});
