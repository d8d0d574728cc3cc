import { createHash } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChecked, ProcessRunner, type CommandRunner } from '../../../shared/process/command-runner.js';

/** One file of a built appliance. */
export interface ApplianceFile {
  sha256: string;
  bytes: number;
}

/** What scripts/appliance/build-guest.sh wrote (its manifest.json). */
export interface ApplianceManifest {
  dir: string;
  vo: string;
  kernelRelease: string;
  files: { 'vmlinuz': ApplianceFile; 'initrd.gz': ApplianceFile; 'disk.qcow2': ApplianceFile };
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Builds (or reuses) the tiny test appliance for `vo` under `dir`: the Debian
 * cloud kernel, a busybox initrd that takes a DHCP lease, and a qcow2 disk
 * with the VO marker. Throws with the build script's output on failure.
 */
export async function ensureAppliance(dir: string, vo: string, payloadMb = 0, runner: CommandRunner = new ProcessRunner()): Promise<ApplianceManifest> {
  const manifestFile = path.join(dir, 'manifest.json');
  const stampFile = path.join(dir, 'build-stamp');
  const script = path.join(REPO, 'scripts/appliance/build-guest.sh');
  // Rebuild whenever the build script (and so the guest's behaviour) changed.
  const stamp = `${createHash('sha256').update(await readFile(script)).digest('hex')} ${vo} ${payloadMb}`;
  const current = await access(manifestFile).then(() => readFile(stampFile, 'utf8'), () => '');
  if (current !== stamp) {
    await runChecked(runner, [script, dir, '--vo', vo, '--payload-mb', String(payloadMb)], { timeoutMs: 600_000 });
    await writeFile(stampFile, stamp);
  }
  return { dir, ...(JSON.parse(await readFile(manifestFile, 'utf8')) as Omit<ApplianceManifest, 'dir'>) };
}
