import type { PolicyStatus } from '../../shared/gen/vonode/v1/coordinator.js';
import { formatProblem } from '../policy/policy-check.js';
import type { PolicyWatcher } from '../policy/policy-watcher.js';

/** The policy watcher's status → wire PolicyStatus (rejectedError set while the file on disk is refused). */
export function policyStatusToWire(policy: PolicyWatcher): PolicyStatus {
  const s = policy.status();
  return {
    file: s.file,
    sha256: s.sha256,
    loadedUnixMs: s.loadedAtUnixMs,
    rejectedError: s.lastError ? s.lastError.problems.map(formatProblem).join('; ') : '',
  };
}
