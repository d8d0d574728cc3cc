// The paper's Table 2 experiment on this machine: 1, 2 and 3 VMs deployed at
// once on one testbed host, through a real vonode-agent with QEMU (TCG) guests,
// the image repository behind one shared rate-limited link.
//  - paper mode: every VM copies the full image, all at the same time (each VM
//    gets its own copy of the disk under its own URL and sha256, so nothing is
//    shared; allow_parallel = true), as the 2007 prototype did;
//  - vonode mode: the normal path (content-addressed cache, one download shared
//    by all N, qcow2 overlays, host-side work serialized), cold cache per batch.
// Prints per-VM phase durations per batch, then the paper's totals next to both
// modes with the ratios; with --json FILE also writes all of it there (seconds
// as numbers, per-VM figures as arrays, the run's parameters), even when a
// batch fails (then `unfinished_steps` says which did not finish).
// Usage: node --import tsx scripts/bench/paper-table2.ts [--payload-mb 300] [--rate-mbit 100] [--max-vms 3] [--timeout-s 1500] [--progress] [--json FILE]
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AgentHost } from '../testbed/lib/agent-host.js';
import { ensureAppliance, type ApplianceFile, type ApplianceManifest } from '../testbed/lib/appliance.js';
import { systemClock } from '../../shared/clock.js';
import { ProcessRunner, runChecked } from '../../shared/process/command-runner.js';
import type { VmSpec } from '../../shared/gen/vonode/v1/common.js';
import { phaseMarkFromWire } from '../../shared/rpc/phase-codec.js';
import type { PhaseMark } from '../../shared/phases.js';
import { parseBenchArgs, usageError as benchUsageError } from './lib/bench-cli.js';
import { finiteOrNull, writeBenchJson, runOutcome } from './lib/bench-json.js';
import { TABLE2_PHASES, vmFigures, vmFiguresJson, type VmFigures } from './lib/deploy-figures.js';

const USAGE = 'usage: node --import tsx scripts/bench/paper-table2.ts [--payload-mb MB≥0 (300)] [--rate-mbit MBIT≥0 (100)] [--max-vms N≥1 (3)] [--timeout-s S>0 (1500)] [--progress] [--json FILE]';

const CLI = { name: 'paper-table2', usage: USAGE };
const usageError = (message: string): never => benchUsageError(CLI, message);
const values = parseBenchArgs(CLI, {
  'payload-mb': { type: 'string', default: '300' },
  'rate-mbit': { type: 'string', default: '100' },
  'max-vms': { type: 'string', default: '3' },
  'timeout-s': { type: 'string', default: '1500' },
  progress: { type: 'boolean', default: false },
});
const payloadMb = Number(values['payload-mb']);
const rateMbit = Number(values['rate-mbit']);
const maxVms = Number(values['max-vms']);
const timeoutS = Number(values['timeout-s']);
// Checked now, not after a half-hour run whose figures would then be NaN.
if (!Number.isInteger(payloadMb) || payloadMb < 0) usageError(`--payload-mb must be a whole number ≥ 0, got ${values['payload-mb']}`);
if (!Number.isFinite(rateMbit) || rateMbit < 0) usageError(`--rate-mbit must be a number ≥ 0, got ${values['rate-mbit']}`);
if (!Number.isInteger(maxVms) || maxVms < 1) usageError(`--max-vms must be a whole number ≥ 1, got ${values['max-vms']}`);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) usageError(`--timeout-s must be a number > 0, got ${values['timeout-s']}`);
const COLS = TABLE2_PHASES;
/** Table 2 of the paper (seconds, average of 25 runs; SR omitted here, there is no SGE). */
const PAPER: Record<number, { CR: number; PT: number; DA: number; VMB: number; VMR: number; SR: number; Total: number }> = {
  1: { CR: 2, PT: 96.8, DA: 4.58, VMB: 3, VMR: 10.67, SR: 1.5, Total: 118.58 },
  2: { CR: 2.54, PT: 279.58, DA: 4.82, VMB: 6.44, VMR: 11.73, SR: 1.88, Total: 308.02 },
  3: { CR: 1, PT: 472, DA: 3.75, VMB: 5.8, VMR: 11.83, SR: 1.5, Total: 495.88 },
};
const PREFIX = '10.213.31';

type Mode = 'paper' | 'vonode';
interface Images {
  shared: ApplianceFile;
  /** One distinct disk per VM slot (paper mode): disk-vmN.qcow2. */
  perVm: ApplianceFile[];
}

/** Everything is aborted when the run's time bound is exceeded or on SIGINT/SIGTERM. */
const abort = new AbortController();
const deadline = setTimeout(() => abort.abort(new Error(`time bound of ${timeoutS} s exceeded`)), timeoutS * 1000);
deadline.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => abort.abort(new Error(`interrupted by ${sig}`)));

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('hex');
}

/** Repository directory: the appliance, plus one copy of the disk per VM slot with distinct trailing bytes. */
async function prepareRepo(app: ApplianceManifest, dir: string, slots: number): Promise<Images> {
  await mkdir(dir, { recursive: true });
  for (const f of ['vmlinuz', 'initrd.gz', 'disk.qcow2']) await copyFile(path.join(app.dir, f), path.join(dir, f));
  const perVm: ApplianceFile[] = [];
  for (let i = 1; i <= slots; i++) {
    const file = path.join(dir, `disk-vm${i}.qcow2`);
    await copyFile(path.join(app.dir, 'disk.qcow2'), file);
    // Bytes past the qcow2's last cluster: ignored by QEMU, but a different sha256.
    const tail = Buffer.from(`vonode-paper-table2-vm${i}\n`);
    await appendFile(file, tail);
    perVm.push({ sha256: await sha256Of(file), bytes: app.files['disk.qcow2'].bytes + tail.length });
  }
  return { shared: app.files['disk.qcow2'], perVm };
}

function vm(host: AgentHost, app: ApplianceManifest, images: Images, mode: Mode, slot: number, n: number): VmSpec {
  const f = app.files;
  const disk = mode === 'paper'
    ? { url: `${host.imageUrl}/disk-vm${slot + 1}.qcow2`, sha256: images.perVm[slot]!.sha256, sizeBytes: images.perVm[slot]!.bytes, peers: [], rateBytesPerSecond: 0 }
    : { url: `${host.imageUrl}/disk.qcow2`, sha256: images.shared.sha256, sizeBytes: images.shared.bytes, peers: [], rateBytesPerSecond: 0 };
  return {
    hostname: `vwn-t2-${String(n).padStart(3, '0')}`, ip: `${PREFIX}.${10 + n}`, mac: `52:54:00:31:00:${n.toString(16).padStart(2, '0')}`, vo: 'bench',
    disk,
    kernel: { url: `${host.imageUrl}/vmlinuz`, sha256: f.vmlinuz.sha256, sizeBytes: f.vmlinuz.bytes, peers: [], rateBytesPerSecond: 0 },
    initrd: { url: `${host.imageUrl}/initrd.gz`, sha256: f['initrd.gz'].sha256, sizeBytes: f['initrd.gz'].bytes, peers: [], rateBytesPerSecond: 0 },
    cmdline: 'console=ttyS0 panic=-1 quiet', vcpus: 1, memoryMb: 256,
  };
}

interface Deployed {
  marks: PhaseMark[];
  /** Local monotonic time the VMR end event arrived. */
  vmrEndAt: number;
}

async function deploy(host: AgentHost, spec: VmSpec, allowParallel: boolean): Promise<Deployed> {
  const marks: PhaseMark[] = [];
  let vmrEndAt = NaN;
  for await (const e of host.client!.deploy({ vm: spec, allowParallel }, abort.signal)) {
    if (e.event?.$case !== 'phase') continue;
    const mark = phaseMarkFromWire(e.event.value);
    marks.push(mark);
    if (mark.phase === 'VMR' && mark.edge === 'end') vmrEndAt = systemClock.monotonicMs();
    if (values.progress && mark.edge === 'end') {
      const extra = Object.entries(mark.details).map(([k, v]) => `${k}=${v}`).join(' ');
      process.stderr.write(`  ${spec.hostname} ${mark.phase.padEnd(3)} done in ${((mark.durationMs ?? 0) / 1000).toFixed(3)} s ${extra}\n`);
    }
  }
  return { marks, vmrEndAt };
}

async function removeAll(host: AgentHost, signal?: AbortSignal): Promise<void> {
  for (const d of (await host.client!.listDomains()).domains) {
    for await (const _ of host.client!.remove({ hostname: d.spec!.hostname }, signal)) void _;
  }
}

async function evictAll(host: AgentHost): Promise<void> {
  for (const i of (await host.client!.listImages()).images) {
    await new Promise<void>((res, rej) => host.client!.raw.evictImage({ sha256: i.sha256 }, (e) => (e ? rej(e) : res())));
  }
}

/** A batch's measurements, as its table rows and wall-time line show them. */
interface BatchFigures {
  mode: Mode;
  vms: number;
  /** First request to last VMR end. */
  wallS: number;
  perVm: VmFigures[];
}

function row(label: string, f: VmFigures): string {
  return `${label.padEnd(20)} ${COLS.map((c) => f.phaseS[c].toFixed(2).padStart(7)).join(' ')} ${f.totalS.toFixed(2).padStart(8)}   ${f.queuedS.toFixed(2).padStart(7)} ${(f.ptBytes ?? '?').padStart(10)} ${f.cacheHit ? 'hit' : 'miss'}`;
}

let counter = 0;
/** Every batch measured so far, in order (for --json, also when a later one fails). */
const batches: BatchFigures[] = [];

/** Deploys `count` VMs at once from a clean, cold host; returns the batch wall time (first request to last VMR end), seconds. */
async function batch(host: AgentHost, app: ApplianceManifest, images: Images, mode: Mode, count: number): Promise<number> {
  await removeAll(host, abort.signal);
  await evictAll(host);
  const specs = Array.from({ length: count }, (_, slot) => vm(host, app, images, mode, slot, ++counter));
  const t0 = systemClock.monotonicMs();
  const all = await Promise.all(specs.map((s) => deploy(host, s, mode === 'paper')));
  const wall = (Math.max(...all.map((d) => d.vmrEndAt)) - t0) / 1000;
  const label = `${mode === 'paper' ? 'paper mode' : 'vonode'} ${count} VM${count > 1 ? 's' : ''}`;
  const perVm = all.map((d, i) => vmFigures(specs[i]!.hostname, d.marks));
  batches.push({ mode, vms: count, wallS: wall, perVm });
  perVm.forEach((f, i) => console.log(row(`${label} #${i + 1}`, f)));
  console.log(`${''.padEnd(20)} batch wall time (first request to last VMR end): ${wall.toFixed(2)} s`);
  await removeAll(host, abort.signal);
  return wall;
}

/** PIDs living in the host's namespace (the agent's QEMU guests and helpers). */
async function namespacePids(name: string): Promise<number[]> {
  const r = await new ProcessRunner().run(['ip', 'netns', 'pids', name]).catch(() => undefined);
  return (r?.stdout ?? '').split(/\s+/).filter(Boolean).map(Number).filter((p) => p > 0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const startedAt = new Date();
const vmCounts = Array.from({ length: maxVms }, (_, i) => i + 1);
/** What the run does, in order; each is added to `done` when it has finished (the rest go to --json's unfinished_steps). */
const STEPS = ['build_agent', 'appliance', 'image_repository', 'agent_start', ...vmCounts.flatMap((n) => [`paper_mode_${n}_vms`, `vonode_${n}_vms`])];
const done = new Set<string>();
const workDir = path.join(os.tmpdir(), `vonode-table2-${process.pid}`);
// Constructing the host only computes paths: nothing to clean up until start().
const host = new AgentHost({
  name: `vnt2-${process.pid}`, prefix: PREFIX, workDir: path.join(workDir, 'host'),
  imageDir: path.join(workDir, 'repo'), imageRateMbit: rateMbit, useBuild: true,
  agentConfig: { deploy: { shutdownTimeout: '20s', vmrTimeout: '300s' } },
});
let app: ApplianceManifest | undefined;
const paperWall: Record<number, number> = {};
const vonodeWall: Record<number, number> = {};
let failed = false;
let failure: unknown;
try {
  // The agent runs as installed: compiled JavaScript, not the sources through tsx.
  await runChecked(new ProcessRunner(), [process.execPath, path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
  done.add('build_agent');
  app = await ensureAppliance(path.join(process.env['VONODE_CACHE'] ?? '/var/cache/vonode-build', `appliance-bench-${payloadMb}`), 'bench', payloadMb);
  done.add('appliance');
  const images = await prepareRepo(app, path.join(workDir, 'repo'), maxVms);
  done.add('image_repository');
  await host.start();
  done.add('agent_start');
  const imageBytes = Object.values(app.files).reduce((s, f) => s + f.bytes, 0);
  console.log(`appliance: ${(imageBytes / 1e6).toFixed(1)} MB (disk ${(app.files['disk.qcow2'].bytes / 1e6).toFixed(1)} MB), shared repository link ${rateMbit} Mbit/s, QEMU TCG, ${os.cpus().length} cores`);
  console.log(`one full image over the link: ${((imageBytes * 8) / (rateMbit * 1e6)).toFixed(2)} s; paper mode N VMs need N times that (N disks over one link)`);
  console.log(`\npaper (2007) Table 2, seconds:`);
  console.log(`${'VMs'.padEnd(20)} ${[...COLS, 'SR'].map((c) => c.padStart(7)).join(' ')} ${'Total'.padStart(8)}`);
  for (const n of [1, 2, 3]) {
    const p = PAPER[n]!;
    console.log(`${String(n).padEnd(20)} ${[...COLS, 'SR' as const].map((c) => p[c].toFixed(2).padStart(7)).join(' ')} ${p.Total.toFixed(2).padStart(8)}`);
  }
  console.log(`\nhere, seconds (Total = CR start to VMR end per VM; queued = wait in the host's deployment queue before PT, in Total but in no phase column):`);
  console.log(`${'deployment'.padEnd(20)} ${COLS.map((c) => c.padStart(7)).join(' ')} ${'Total'.padStart(8)}   ${'queued'.padStart(7)} ${'PT bytes'.padStart(10)} cache`);
  for (let n = 1; n <= maxVms; n++) {
    paperWall[n] = await batch(host, app, images, 'paper', n);
    done.add(`paper_mode_${n}_vms`);
    vonodeWall[n] = await batch(host, app, images, 'vonode', n);
    done.add(`vonode_${n}_vms`);
  }
  const f = (x: number | undefined, w: number): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(2)).padStart(w);
  console.log(`\nsummary (batch wall time, seconds):`);
  console.log(`${'N'.padStart(2)} | ${'paper 2007'.padStart(10)} | ${'paper mode here'.padStart(15)} | ${'vonode here'.padStart(11)} | ${'vonode/paper-mode'.padStart(17)} | ${'paper 2007 N/1'.padStart(14)} | ${'paper mode N/1'.padStart(14)} | ${'vonode N/1'.padStart(10)}`);
  for (let n = 1; n <= maxVms; n++) {
    const paper = PAPER[n];
    console.log(`${String(n).padStart(2)} | ${f(paper?.Total, 10)} | ${f(paperWall[n], 15)} | ${f(vonodeWall[n], 11)} | ${f(vonodeWall[n]! / paperWall[n]!, 17)} | ${f(paper ? paper.Total / PAPER[1]!.Total : undefined, 14)} | ${f(paperWall[n]! / paperWall[1]!, 14)} | ${f(vonodeWall[n]! / vonodeWall[1]!, 10)}`);
  }
  if (maxVms >= 3) {
    const r = vonodeWall[3]! / vonodeWall[1]!;
    console.log(`\nvonode 3-VM / 1-VM: ${r.toFixed(2)} (target <= 1.3; the paper had ${(PAPER[3]!.Total / PAPER[1]!.Total).toFixed(1)}): ${r <= 1.3 ? 'MET' : 'NOT MET'}`);
  }
} catch (err) {
  failed = true;
  failure = err;
  console.error(`benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
  console.error(`agent log tail:\n${(await readFile(host.agentLog, 'utf8').catch(() => '')).slice(-3000)}`);
} finally {
  clearTimeout(deadline);
  // Remove the guests through the agent (bounded), then stop everything and
  // SIGKILL, by PID, anything of ours still left in the namespace.
  if (host.client) await removeAll(host, AbortSignal.timeout(60_000)).catch(() => undefined);
  const leftovers = await namespacePids(host.ns.name);
  await host.destroy().catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
  for (const pid of leftovers.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  await rm(workDir, { recursive: true, force: true });
}
if (values.json !== undefined) {
  await writeBenchJson(values.json, resultsJson()).catch((e: unknown) => {
    failed = true;
    console.error(`--json ${values.json}: ${e instanceof Error ? e.message : String(e)}`);
  });
}
process.exit(failed ? 1 : 0);

/** Everything the tables show, for --json: seconds, MB and ratios as numbers (null where not measured), per-VM figures as arrays. */
function resultsJson(): Record<string, unknown> {
  const ratio = (a: number | undefined, b: number | undefined): number | null => finiteOrNull(a !== undefined && b !== undefined ? a / b : NaN);
  const imageBytes = app ? Object.values(app.files).reduce((s, f) => s + f.bytes, 0) : NaN;
  // From `batches`, which holds a batch as soon as it is measured (before its guests are removed).
  const wall = (mode: Mode, n: number): number | undefined => batches.find((b) => b.mode === mode && b.vms === n)?.wallS;
  const modeJson = (mode: Mode): Array<Record<string, unknown>> =>
    batches.filter((b) => b.mode === mode).map((b) => ({
      vms: b.vms,
      ...vmFiguresJson(b.perVm),
      batch_wall_s: finiteOrNull(b.wallS),
      batch_wall_vs_1_vm_ratio: ratio(b.wallS, wall(mode, 1)),
    }));
  const r31 = maxVms >= 3 ? ratio(wall('vonode', 3), wall('vonode', 1)) : null;
  return {
    ...runOutcome('paper-table2', startedAt, STEPS, done, failure),
    parameters: {
      payload_mb: payloadMb,
      link_rate_mbit_per_s: rateMbit,
      max_vms: maxVms,
      vm_counts: vmCounts,
      timeout_s: timeoutS,
      cpu_cores: os.cpus().length,
      hypervisor: 'QEMU TCG',
      guest_vcpus: 1,
      guest_memory_mb: 256,
      appliance_mb: finiteOrNull(imageBytes / 1e6),
      disk_mb: app ? app.files['disk.qcow2'].bytes / 1e6 : null,
      one_image_over_link_s: finiteOrNull((imageBytes * 8) / (rateMbit * 1e6)),
    },
    paper_2007: {
      runs_averaged: 25,
      rows: Object.entries(PAPER).map(([n, p]) => ({
        vms: Number(n), cr_s: p.CR, pt_s: p.PT, da_s: p.DA, vmb_s: p.VMB, vmr_s: p.VMR, sr_s: p.SR, total_s: p.Total, total_vs_1_vm_ratio: p.Total / PAPER[1]!.Total,
      })),
    },
    paper_mode: modeJson('paper'),
    vonode: modeJson('vonode'),
    summary: vmCounts.map((n) => {
      const paper = PAPER[n];
      return {
        vms: n,
        paper_2007_total_s: paper?.Total ?? null,
        paper_mode_batch_wall_s: finiteOrNull(wall('paper', n)),
        vonode_batch_wall_s: finiteOrNull(wall('vonode', n)),
        vonode_vs_paper_mode_ratio: ratio(wall('vonode', n), wall('paper', n)),
        paper_2007_vs_1_vm_ratio: paper ? paper.Total / PAPER[1]!.Total : null,
        paper_mode_vs_1_vm_ratio: ratio(wall('paper', n), wall('paper', 1)),
        vonode_vs_1_vm_ratio: ratio(wall('vonode', n), wall('vonode', 1)),
      };
    }),
    vonode_3_vs_1_vm_ratio: r31,
    vonode_3_vs_1_vm_target_max_ratio: 1.3,
    vonode_3_vs_1_vm_target_met: r31 === null ? null : r31 <= 1.3,
  };
}
