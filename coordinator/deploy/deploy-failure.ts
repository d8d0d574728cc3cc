import { status } from '@grpc/grpc-js';
import { errorMessage } from '../../shared/errors.js';
import { isAgentCallError } from '../../shared/rpc/agent-client.js';
import { attemptError } from './attempt-runner.js';

/**
 * What made a deployment attempt fail, as far as retrying and the VO's
 * deployment hold care: `image` (the appliance's image itself is bad),
 * `image-source` (the agent may not fetch it), `request` (the agent refused
 * the VM the policy describes), `other` (the host, the network, a timeout:
 * another host may do better).
 */
export type DeployFailureCause = 'image' | 'image-source' | 'request' | 'other';

// Agent answers that would fail the same way on every host: retrying elsewhere only wastes time
// (and, for an image, a download per host). Each code is the agent's word for one cause.
const NOT_RETRYABLE: ReadonlyMap<number, DeployFailureCause> = new Map<number, DeployFailureCause>([
  // The VmSpec itself is invalid (a field the policy set): every agent validates it alike.
  [status.INVALID_ARGUMENT, 'request'],
  // The image does not verify (sha256 mismatch, truncated or corrupt file in the repository): every
  // host fetches the same bytes from the same URL, so every host would fail it the same way.
  [status.FAILED_PRECONDITION, 'image'],
  // What older agents answer for a sha256 mismatch: the same cause as FAILED_PRECONDITION.
  [status.DATA_LOSS, 'image'],
  // The URL is outside the agents' allowed image sources (or the agent refuses the caller): a site-wide
  // setting that the policy or the agents' config must change; another agent has the same list.
  [status.PERMISSION_DENIED, 'image-source'],
]);

/** How a failed deployment attempt is handled: retried on another host or not, why, and the operation's error text. */
export interface DeployFailure {
  retryable: boolean;
  cause: DeployFailureCause;
  /** The operation's error: what happened, on which host, and (when it will not go away by itself) what to do. */
  reason: string;
}

/** The agent's own message, without the `Deploy: ` method prefix of a call error. */
function agentDetails(e: unknown): string {
  return isAgentCallError(e) ? e.details : errorMessage(e);
}

/**
 * Classifies a failed deployment attempt of VO `vo` on `host`. An agent
 * answer in NOT_RETRYABLE is not retried elsewhere and gets a reason that
 * says what to fix; anything else keeps the plain `on HOST: error` text and
 * is retried.
 */
export function classifyDeployFailure(vo: string, host: string, e: unknown): DeployFailure {
  const cause = isAgentCallError(e) ? NOT_RETRYABLE.get(e.code) : undefined;
  const agent = agentDetails(e);
  const at = `vos.${vo}.appliance`;
  switch (cause) {
    case 'image':
      return {
        retryable: false, cause,
        reason: `image of ${vo} failed verification on ${host}: fix the repository or the policy's sha256 (${at}); not retried on other hosts (agent: ${agent})`,
      };
    case 'image-source':
      return {
        retryable: false, cause,
        reason: `the agent on ${host} denied the deployment of ${vo}: give ${at} URLs from the agents' allowed image sources (or allow them in the agents' config), or check the coordinator's certificate; not retried on other hosts (agent: ${agent})`,
      };
    case 'request':
      return {
        retryable: false, cause,
        reason: `the agent on ${host} refused the VM of ${vo} as invalid: fix vos.${vo} in the policy; not retried on other hosts (agent: ${agent})`,
      };
    default:
      return { retryable: true, cause: 'other', reason: attemptError(host, e) };
  }
}
