import type { Clock } from '../../shared/clock.js';
import { FailedPreconditionError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { CommandRunner } from '../../shared/process/command-runner.js';
import type { CoordinatorConfig } from '../config.js';
import type { GridStep, GridSteps } from '../deploy/grid-steps.js';
import type { VisibilityReports } from '../gridway/visibility-reports.js';
import { PublicationProbe } from '../infosys/publication-probe.js';
import type { BatchSystem } from '../lrms/batch-system.js';
import type { PolicyWatcher } from '../policy/policy-watcher.js';
import type { StateStore } from '../store/state-store.js';

/** What the wiring needs from the coordinator. */
export interface GridWiringDeps {
  config: CoordinatorConfig;
  batch: BatchSystem | undefined;
  policy: PolicyWatcher;
  store: StateStore;
  visibility: VisibilityReports;
  runner: CommandRunner;
  clock: Clock;
  logger: Logger;
}

/** The queue of a node's VO in the policy in force. Throws FailedPreconditionError if the VO left the policy. */
function voOf(policy: PolicyWatcher, vo: string): { queue: string; slotsPerNode: number } {
  const p = policy.current.vos.find((v) => v.name === vo);
  if (!p) throw new FailedPreconditionError(`VO ${vo} is no longer in the policy`);
  return p;
}

/**
 * Builds the grid-side steps from the config: SR and DRN through the batch
 * system, PUB by polling the site BDII, GW from the GridWay MAD's reports.
 * Each is left out when its section is absent.
 */
export function createGridSteps(d: GridWiringDeps): GridSteps {
  const steps: GridSteps = { visibility: [] };
  const { batch, policy, config } = d;
  if (batch) {
    steps.register = async (node, signal) => {
      const vo = voOf(policy, node.vo);
      await batch.register({ node, queue: vo.queue, slots: vo.slotsPerNode }, signal);
      return { queue: vo.queue, lrms: batch.kind };
    };
    steps.drain = async (node, signal) => {
      await batch.drain(node, signal);
      return { lrms: batch.kind };
    };
    steps.forget = (hostname) => batch.deregister(hostname);
  }
  if (config.infosys) {
    const probe = new PublicationProbe({ ...config.infosys, pollIntervalMs: config.infosys.pollInterval, runner: d.runner, clock: d.clock });
    const pub: GridStep = (node, signal) => {
      const vo = voOf(policy, node.vo);
      const nodes = d.store.nodes().filter((n) => n.vo === node.vo && (n.state === 'running' || n.state === 'draining')).length;
      return probe.waitFor(vo.queue, nodes, signal);
    };
    steps.visibility.push({ phase: 'PUB', step: pub });
  }
  if (config.gridway?.waitForMad) {
    // A report can race the bookkeeping by a few ms: accept one from just before the step began.
    const gw: GridStep = (node, signal) => d.visibility.wait(node.hostname, d.clock.monotonicMs() - 1000, signal);
    steps.visibility.push({ phase: 'GW', step: gw });
  }
  return steps;
}
