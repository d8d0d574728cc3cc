import type { ImageTransfer, PolicyStatus, StatusResponse, VoStatus } from '../../../shared/gen/vonode/v1/coordinator.js';
import { formatSizeBytes } from '../../../shared/config/units.js';
import { renderCluster, renderStoreError } from './cluster-view.js';
import { formatAge, formatDuration, formatTime, shortId } from './format.js';
import { renderTable } from './table.js';

/** How to print: wall-clock now (for ages) and whether ANSI colour is allowed. */
export interface ViewOptions {
  nowMs: number;
  color: boolean;
}

const RED_BOLD = '\u001b[1;31m';
const RESET = '\u001b[0m';

/**
 * The policy's state as lines. A rejected file gets a loud upper-case line
 * (red on a terminal) so it is not missed: the coordinator runs the previous
 * policy until the file is fixed.
 */
export function renderPolicyStatus(policy: PolicyStatus | undefined, opts: ViewOptions): string[] {
  if (!policy) return ['policy      (none loaded)'];
  const lines = [
    `policy      ${policy.file || '(applied over the API)'}  sha256 ${shortId(policy.sha256, 12)}  loaded ${formatTime(policy.loadedUnixMs)}`,
  ];
  if (policy.rejectedError) {
    const loud = [
      `!!! POLICY FILE REJECTED: ${policy.file || 'the policy file'} on disk is invalid; the PREVIOUS policy (sha256 ${shortId(policy.sha256, 12)}) is still in force`,
      `!!! ${policy.rejectedError.split('\n').join('\n!!! ')}`,
      `!!! fix the file (check it with: vonode policy check ${policy.file || 'FILE'}); the coordinator reloads it when it changes`,
    ];
    lines.push(...loud.map((l) => (opts.color ? `${RED_BOLD}${l}${RESET}` : l)));
  }
  return lines;
}

/**
 * Lines for each VO whose deployments failed since its last success: how
 * many, whether the scaling loop still holds new ones back, the last error
 * (first line: the coordinator writes what happened and what to do there)
 * and what lifts the hold.
 */
export function renderDeployHolds(vos: readonly VoStatus[], policyFile: string, opts: ViewOptions): string[] {
  return vos.filter((v) => v.deployFailures > 0).flatMap((v) => {
    const held = v.deployHeldUntilUnixMs > opts.nowMs
      ? `the scaling loop holds new ones back for ${formatDuration(v.deployHeldUntilUnixMs - opts.nowMs)} more`
      : 'new ones allowed again';
    return [
      `${v.vo}: ${v.deployFailures} deployment(s) failed since the last success; ${held}`,
      `  last error: ${v.lastDeployError.split('\n')[0] || '-'}`,
      `  the hold lifts when a deployment of ${v.vo} succeeds; one caused by its image or VM spec also lifts as soon as ` +
        `the policy changes them (vonode policy check ${policyFile || 'FILE'})`,
    ];
  });
}

/**
 * `vonode status`: site summary lines (with loud lines when the coordinators'
 * store refuses writes), one row per VO, then any VO whose deployments fail,
 * the image transfers, and the coordinators of an HA site when the answer
 * describes them. `address` is the coordinator that answered.
 */
export function renderStatus(s: StatusResponse, address: string, opts: ViewOptions): string[] {
  const lines = [
    `site        ${s.site || '-'}  (coordinator ${address}, up ${formatAge(s.startedUnixMs, opts.nowMs)})`,
    `hosts       ${s.hostsUp} up, ${s.hostsDown} down`,
    `pool        ${s.poolFree} free of ${s.poolTotal}`,
    `operations  ${s.queuedOperations} queued, ${s.runningOperations} running`,
    ...renderPolicyStatus(s.policy, opts),
    ...renderStoreError(s.cluster, opts),
    '',
  ];
  const cluster = s.cluster ? ['', ...renderCluster(s.cluster)] : [];
  if (!s.vos.length) return [...lines, 'no VOs in the policy', ...cluster];
  const columns = ['VO', 'WEIGHT', 'TARGET', 'RUNNING', 'DEPLOYING', 'DRAINING', 'DEMAND'].map((h, i) => ({ header: h, right: i > 0 }));
  const rows = s.vos.map((v) => [v.vo, v.weight, v.target, v.running, v.deploying, v.draining, v.demand].map(String));
  const holds = renderDeployHolds(s.vos, s.policy?.file ?? '', opts);
  const transfers = renderTransfers(s.transfers, opts);
  return [...lines, ...renderTable(columns, rows), ...(holds.length ? ['', ...holds] : []), ...(transfers.length ? ['', ...transfers] : []), ...cluster];
}

/** Image downloads running now: where to, from where, at what admitted rate, how far. */
export function renderTransfers(transfers: readonly ImageTransfer[], opts: ViewOptions): string[] {
  if (!transfers.length) return [];
  const columns = ['TRANSFER', 'HOST', 'IMAGE', 'SOURCE', 'RATE', 'PROGRESS', 'AGE'].map((h, i) => ({ header: h, right: i >= 4 }));
  const rows = transfers.map((t) => [
    t.purpose, t.host, t.sha256.slice(0, 12), t.source, `${(t.rateBytesPerSecond * 8 / 1e6).toFixed(1)} Mbit/s`,
    t.sizeBytes ? `${Math.floor((100 * t.verifiedBytes) / t.sizeBytes)}% of ${formatSizeBytes(t.sizeBytes)}` : formatSizeBytes(t.verifiedBytes),
    formatAge(t.startedUnixMs, opts.nowMs),
  ]);
  return renderTable(columns, rows);
}
