import { formatSeconds, shortId } from './format.js';
import { isFinished, type TrackedOperation, type TrackerChange } from './operation-tracker.js';

// What to look at when an operation stopped in a phase (DESIGN §2 says what each phase covers).
const PHASE_HINTS: Record<string, string> = {
  CR: 'the agent on HOST did not take the command: check `vonode hosts` (is it up?) and `vonode health` on its address',
  PT: 'the appliance could not be fetched or verified on HOST: check the VO appliance url/sha256 (`vonode policy show`) and the image server',
  DA: 'the DHCP reservation failed on HOST: check its dnsmasq/dhcpd and the agent log',
  VMB: 'the hypervisor did not start the domain on HOST: check the agent log and the free memory in `vonode hosts`',
  VMR: 'the guest never took its DHCP lease on HOST: check the bridge and DHCP server there and the appliance boot (console log in the agent state dir)',
  SR: 'the node never showed up in the VO batch queue: check the queue name in the policy and the execution daemon in the appliance',
  PUB: 'the information system did not publish the new capacity: check the BDII provider (`vonode glue2`)',
  GW: 'GridWay was not told about the node: check vonode-gw-im-mad in gwd.conf',
  RC: 'the agent on HOST did not take the removal: check `vonode hosts` and the agent log',
  VMD: 'the guest did not shut down or could not be destroyed on HOST: check the hypervisor there',
  DHR: 'the DHCP entry could not be removed on HOST: check its DHCP directory and the agent log',
  DKR: 'the instance disk could not be removed on HOST: check the agent state dir',
};

/** The node's name for display; an operation without one yet shows its id. */
export function opLabel(op: Pick<TrackedOperation, 'node' | 'id'>): string {
  return op.node || `op ${shortId(op.id)}`;
}

/** What to check for an operation that failed or stopped, given the phase it was in. */
export function failureHint(op: TrackedOperation): string {
  const phase = op.phaseRunning ? op.phase : undefined;
  const hint = phase ? PHASE_HINTS[phase] : undefined;
  const host = op.host || 'its host';
  if (hint) return `hint: ${hint.replaceAll('HOST', host)}`;
  return `hint: \`vonode events\` and the coordinator log (journalctl -u vonode-coordinator) show what happened to operation ${op.id}`;
}

function elapsed(op: TrackedOperation): string {
  return op.createdUnixMs && op.finishedUnixMs ? ` in ${formatSeconds(op.finishedUnixMs - op.createdUnixMs)} s` : '';
}

/**
 * One log line for a change, for non-terminal output: every state change and
 * every phase end (phase starts print nothing). Undefined when nothing prints.
 */
export function changeLine(change: TrackerChange): string | undefined {
  const op = change.op;
  const who = opLabel(op).padEnd(14);
  if (change.type === 'phase-start') return undefined;
  if (change.type === 'phase-end') {
    const details = Object.entries(change.details)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return `${who}${change.phase.padEnd(4)} ${formatSeconds(change.durationMs).padStart(6)} s  ${op.host || '-'}${details ? `  ${details}` : ''}`;
  }
  switch (op.status) {
    case 'queued':
      // The full id: it is what `vonode events` and the coordinator log show.
      return `${who}queued (${op.kind}${op.vo ? ` ${op.vo}` : ''}, op ${op.id})`;
    case 'running':
      return `${who}running on ${op.host || '?'}${op.attempt > 1 ? ` (attempt ${op.attempt})` : ''}`;
    case 'retrying':
      return `${who}retrying on another host: ${op.error || 'attempt failed'}`;
    case 'succeeded':
      return `${who}succeeded${elapsed(op)}`;
    case 'failed':
      return `${who}FAILED${elapsed(op)}: ${op.error || 'no reason given'}`;
  }
}

/** Outcome of a streamed command: the lines for stderr and the exit code. */
export interface StreamOutcome {
  ok: boolean;
  /** Summary lines; errors and hints when not ok. */
  lines: string[];
}

/**
 * Judges the operations at the end of a stream: ok only if there was at least
 * one and every one succeeded. Failed ones get their error and a hint; ones
 * still open (the stream ended early) say how to keep following them.
 */
export function streamOutcome(ops: readonly TrackedOperation[], what: string): StreamOutcome {
  if (!ops.length) return { ok: false, lines: [`the coordinator started no ${what} operation; see \`vonode events\` and its log`] };
  const failed = ops.filter((o) => o.status === 'failed');
  const open = ops.filter((o) => !isFinished(o));
  const done = ops.length - failed.length - open.length;
  if (!failed.length && !open.length) return { ok: true, lines: [`${done} of ${ops.length} ${what} operation(s) succeeded`] };
  const lines = [`${done} of ${ops.length} ${what} operation(s) succeeded`];
  for (const op of failed) {
    const where = [op.host && `on ${op.host}`, op.phase && op.phaseRunning && `in ${op.phase}`, `attempt ${op.attempt || 1}`].filter(Boolean).join(', ');
    lines.push(`${opLabel(op)} (op ${op.id}) failed ${where}: ${op.error || 'no reason given'}`, `  ${failureHint(op)}`);
  }
  for (const op of open) {
    lines.push(
      `${opLabel(op)} (op ${op.id}) was still ${op.status}${op.phase ? ` in ${op.phase}` : ''} when the stream ended; it goes on at the coordinator`,
      '  hint: follow it with `vonode events`; `vonode nodes` shows where it ends up',
    );
  }
  return { ok: false, lines };
}
