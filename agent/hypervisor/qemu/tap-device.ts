import { createHash } from 'node:crypto';
import { runChecked, type CommandRunner } from '../../../shared/process/command-runner.js';

/**
 * Deterministic tap name for a domain (Linux caps interface names at 15
 * characters), so an agent restarted after a crash finds the taps it made.
 */
export function tapNameFor(domainName: string): string {
  return 'vnt' + createHash('sha1').update(domainName).digest('hex').slice(0, 10);
}

/** Creates (or recreates) a tap device enslaved to the bridge and up. Throws CommandFailedError. */
export async function createTap(runner: CommandRunner, tap: string, bridge: string): Promise<void> {
  await deleteTap(runner, tap);
  await runChecked(runner, ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await runChecked(runner, ['ip', 'link', 'set', 'dev', tap, 'master', bridge, 'up']);
}

/** Deletes a tap device; a missing one is fine. */
export async function deleteTap(runner: CommandRunner, tap: string): Promise<void> {
  await runner.run(['ip', 'link', 'del', 'dev', tap]);
}
