import { createHash } from 'node:crypto';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
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

/** What scripts/appliance/build-vo-appliance.sh wrote (manifest.json of a VO appliance). */
export interface VoApplianceManifest extends ApplianceManifest {
  applianceId: string;
  voAppliance: true;
}

/** Options of a VO appliance build (scripts/appliance/build-vo-appliance.sh). */
export interface VoApplianceOptions {
  /** The id the marker and tool print; default `<vo>-appliance`. */
  applianceId?: string;
  /** An SGE cell's common/ directory to copy into the image (bootstrap, act_qmaster, ...). */
  sgeCellDir?: string;
  payloadMb?: number;
  /** Debian packages whose programs are the VO's own software in the image. */
  packages?: readonly string[];
}

async function hashFiles(files: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(await readFile(f)).update('\0');
  return h.digest('hex');
}

/**
 * Builds (or reuses) the VO appliance for `vo` under `dir`: the test
 * appliance plus the VO marker and tool and an sge_execd started at boot (see
 * scripts/appliance/vo-layer.sh). Rebuilds when the build scripts, the options
 * or the given cell's files changed.
 */
export async function ensureVoAppliance(dir: string, vo: string, opts: VoApplianceOptions = {}, runner: CommandRunner = new ProcessRunner()): Promise<VoApplianceManifest> {
  const manifestFile = path.join(dir, 'manifest.json');
  const stampFile = path.join(dir, 'build-stamp');
  const scripts = ['build-guest.sh', 'build-vo-appliance.sh', 'vo-layer.sh'].map((f) => path.join(REPO, 'scripts/appliance', f));
  const applianceId = opts.applianceId ?? `${vo}-appliance`;
  const args = ['--vo', vo, '--appliance-id', applianceId, '--payload-mb', String(opts.payloadMb ?? 0), ...(opts.packages ?? []).flatMap((p) => ['--vo-package', p])];
  let cellHash = '';
  if (opts.sgeCellDir !== undefined) {
    const cellFiles = (await readdir(opts.sgeCellDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(opts.sgeCellDir!, e.name)).sort();
    cellHash = await hashFiles(cellFiles);
    args.push('--sge-cell-dir', opts.sgeCellDir);
  }
  const stamp = `${await hashFiles(scripts)} ${cellHash} ${args.join(' ')}`;
  const current = await access(manifestFile).then(() => readFile(stampFile, 'utf8'), () => '');
  if (current !== stamp) {
    await runChecked(runner, [scripts[1]!, dir, ...args], { timeoutMs: 600_000 });
    await writeFile(stampFile, stamp);
  }
  return { dir, ...(JSON.parse(await readFile(manifestFile, 'utf8')) as Omit<VoApplianceManifest, 'dir'>) };
}
