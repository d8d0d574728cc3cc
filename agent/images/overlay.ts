import { rm } from 'node:fs/promises';
import { runChecked, type CommandRunner } from '../../shared/process/command-runner.js';

/**
 * Creates a qcow2 instance disk backed by a cached image (~10 ms whatever
 * the base size): the VM writes only to its overlay, the base stays shared
 * and untouched. Throws CommandFailedError with qemu-img's message.
 */
export async function createOverlay(runner: CommandRunner, basePath: string, baseFormat: 'qcow2' | 'raw', overlayPath: string): Promise<void> {
  await runChecked(runner, ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', baseFormat, '-b', basePath, overlayPath]);
}

/** Deletes an instance disk; a missing one is fine. */
export async function removeOverlay(overlayPath: string): Promise<void> {
  await rm(overlayPath, { force: true });
}
