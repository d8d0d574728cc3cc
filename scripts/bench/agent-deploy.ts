// Benchmark of the agent alone (issue 2): deploys 1 and 3 VMs on one testbed
// host, cold and warm cache, through a real vonode-agent with QEMU (TCG)
// guests, and prints Table-2-style rows (seconds). Also: PT against the link
// rate, downloads per batch, and the idle agent's RSS and CPU. With --json FILE
// also writes all of it there (seconds as numbers, per-VM figures as arrays,
// the run's parameters), even when a step fails (then `unfinished_steps` says
// which did not finish).
// Usage: node --import tsx scripts/bench/agent-deploy.ts [--payload-mb 100] [--rate-mbit 400] [--progress] [--json FILE]
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AgentHost } from '../testbed/lib/agent-host.js';
import { ensureAppliance, type ApplianceManifest } from '../testbed/lib/appliance.js';
import { systemClock } from '../../shared/clock.js';
import { ProcessRunner, runChecked } from '../../shared/process/command-runner.js';
import type { VmSpec } from '../../shared/gen/vonode/v1/common.js';
import { phaseMarkFromWire } from '../../shared/rpc/phase-codec.js';
import type { PhaseMark } from '../../shared/phases.js';
import { parseBenchArgs, usageError as benchUsageError } from './lib/bench-cli.js';
import { finiteOrNull, writeBenchJson, runOutcome } from './lib/bench-json.js';
import { TABLE2_PHASES, vmFigures, vmFiguresJson, type VmFigures } from './lib/deploy-figures.js';

const USAGE = 'usage: node --import tsx scripts/bench/agent-deploy.ts [--payload-mb MB≥0 (100)] [--rate-mbit MBIT≥0 (400)] [--progress] [--json FILE]';

const CLI = { name: 'agent-deploy', usage: USAGE };
const usageError = (message: string): never => benchUsageError(CLI, message);
const values = parseBenchArgs(CLI, {
  'payload-mb': { type: 'string', default: '100' },
  'rate-mbit': { type: 'string', default: '400' },
  progress: { type: 'boolean', default: false },
});
const payloadMb = Number(values['payload-mb']);
const rateMbit = Number(values['rate-mbit']);
// Checked now, not after a run whose figures would then be NaN.
if (!Number.isInteger(payloadMb) || payloadMb < 0) usageError(`--payload-mb must be a whole number ≥ 0, got ${values['payload-mb']}`);
if (!Number.isFinite(rateMbit) || rateMbit < 0) usageError(`--rate-mbit must be a number ≥ 0, got ${values['rate-mbit']}`);
const COLS = TABLE2_PHASES;
/** Seconds the idle agent is sampled for RSS and CPU. */
const IDLE_SAMPLE_S = 10;

function vm(host: AgentHost, app: ApplianceManifest, n: number): VmSpec {
  const f = app.files;
  return {
    hostname: `vwn-bench-${String(n).padStart(3, '0')}`, ip: `10.213.30.${10 + n}`, mac: `52:54:00:30:00:${n.toString(16).padStart(2, '0')}`, vo: 'bench',
    disk: { url: `${host.imageUrl}/disk.qcow2`, sha256: f['disk.qcow2'].sha256, sizeBytes: f['disk.qcow2'].bytes, peers: [], rateBytesPerSecond: 0 },
    kernel: { url: `${host.imageUrl}/vmlinuz`, sha256: f.vmlinuz.sha256, sizeBytes: f.vmlinuz.bytes, peers: [], rateBytesPerSecond: 0 },
    initrd: { url: `${host.imageUrl}/initrd.gz`, sha256: f['initrd.gz'].sha256, sizeBytes: f['initrd.gz'].bytes, peers: [], rateBytesPerSecond: 0 },
    cmdline: 'console=ttyS0 panic=-1 quiet', vcpus: 1, memoryMb: 256,
  };
}

async function deploy(host: AgentHost, spec: VmSpec): Promise<PhaseMark[]> {
  const marks: PhaseMark[] = [];
  for await (const e of host.client!.deploy({ vm: spec })) {
    if (e.event?.$case !== 'phase') continue;
    const mark = phaseMarkFromWire(e.event.value);
    marks.push(mark);
    if (values.progress && mark.edge === 'end') {
      const extra = Object.entries(mark.details).map(([k, v]) => `${k}=${v}`).join(' ');
      process.stderr.write(`  ${spec.hostname} ${mark.phase.padEnd(3)} done in ${((mark.durationMs ?? 0) / 1000).toFixed(3)} s ${extra}\n`);
    }
  }
  return marks;
}

async function removeAll(host: AgentHost): Promise<void> {
  for (const d of (await host.client!.listDomains()).domains) {
    for await (const _ of host.client!.remove({ hostname: d.spec!.hostname })) void _;
  }
}

async function evictAll(host: AgentHost): Promise<void> {
  for (const i of (await host.client!.listImages()).images) {
    await new Promise<void>((res, rej) => host.client!.raw.evictImage({ sha256: i.sha256 }, (e) => (e ? rej(e) : res())));
  }
}

function row(label: string, f: VmFigures): string {
  return `${label.padEnd(22)} ${COLS.map((c) => f.phaseS[c].toFixed(3).padStart(7)).join(' ')} ${f.totalS.toFixed(3).padStart(8)}   ${f.ptBytes ?? '?'}`;
}

/** The batches of the run, in order: label, VM count, whether the image cache is cold. */
const BATCHES = [
  { step: 'one_vm_cold', label: '1 VM cold', vms: 1, cold: true },
  { step: 'one_vm_warm', label: '1 VM warm', vms: 1, cold: false },
  { step: 'three_vms_cold', label: '3 VMs cold', vms: 3, cold: true },
  { step: 'three_vms_warm', label: '3 VMs warm', vms: 3, cold: false },
] as const;
type BatchPlan = (typeof BATCHES)[number];

/** A batch's measurements, as its table rows and wall-time line show them. */
interface BatchFigures {
  plan: BatchPlan;
  /** First request to the last deployment's end. */
  wallS: number;
  perVm: VmFigures[];
}

/** Every batch measured so far, in order (for --json, also when a later step fails). */
const batches: BatchFigures[] = [];

async function batch(host: AgentHost, app: ApplianceManifest, plan: BatchPlan, base: number): Promise<void> {
  const t0 = systemClock.monotonicMs();
  const specs = Array.from({ length: plan.vms }, (_, i) => vm(host, app, base + i));
  const all = await Promise.all(specs.map((s) => deploy(host, s)));
  const wall = (systemClock.monotonicMs() - t0) / 1000;
  const perVm = all.map((m, i) => vmFigures(specs[i]!.hostname, m));
  batches.push({ plan, wallS: wall, perVm });
  perVm.forEach((f, i) => console.log(row(`${plan.label} #${i + 1}`, f)));
  console.log(`${''.padEnd(22)} batch wall time: ${wall.toFixed(3)} s`);
  await removeAll(host);
}

async function idleUsage(pid: number, seconds: number): Promise<{ rssMb: number; cpuPct: number }> {
  const ticks = async (): Promise<number> => {
    const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  const t0 = await ticks();
  await systemClock.sleep(seconds * 1000);
  const t1 = await ticks();
  const rss = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { rssMb: Number(rss) / 1024, cpuPct: ((t1 - t0) / 100 / seconds) * 100 };
}

const startedAt = new Date();
/** What the run does, in order; each is added to `done` when it has finished (the rest go to --json's unfinished_steps). */
const STEPS = ['build_agent', 'appliance', 'agent_start', ...BATCHES.map((b) => b.step), 'idle_usage'];
const done = new Set<string>();
let app: ApplianceManifest | undefined;
let host: AgentHost | undefined;
let usage: { rssMb: number; cpuPct: number } | undefined;
let failure: unknown;
try {
  // The agent runs as installed: compiled JavaScript, not the sources through tsx.
  await runChecked(new ProcessRunner(), [process.execPath, path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
  done.add('build_agent');
  app = await ensureAppliance(path.join(process.env['VONODE_CACHE'] ?? '/var/cache/vonode-build', `appliance-bench-${payloadMb}`), 'bench', payloadMb);
  done.add('appliance');
  host = new AgentHost({
    name: `vnb-agent-${process.pid}`, prefix: '10.213.30', workDir: path.join(os.tmpdir(), `vonode-bench-${process.pid}`),
    imageDir: app.dir, imageRateMbit: rateMbit, useBuild: true,
  });
  await host.start();
  done.add('agent_start');
  const imageBytes = Object.values(app.files).reduce((s, f) => s + f.bytes, 0);
  console.log(`appliance: ${(imageBytes / 1e6).toFixed(1)} MB (disk ${(app.files['disk.qcow2'].bytes / 1e6).toFixed(1)} MB), repository link ${rateMbit} Mbit/s, QEMU TCG, ${os.cpus().length} cores`);
  console.log(`expected PT on a cold cache (size / link rate): ${((imageBytes * 8) / (rateMbit * 1e6)).toFixed(3)} s`);
  console.log(`\n${'deployment'.padEnd(22)} ${COLS.map((c) => c.padStart(7)).join(' ')} ${'Total'.padStart(8)}   PT bytes`);
  let base = 1;
  for (const plan of BATCHES) {
    // The first batch finds a fresh, empty cache; the cold 3-VM batch needs it emptied.
    if (plan.cold && base > 1) await evictAll(host);
    await batch(host, app, plan, base);
    base += plan.vms;
    done.add(plan.step);
  }
  // `ip netns exec` execs the agent, so the spawned pid is the agent's own.
  usage = await idleUsage(host.agentPid!, IDLE_SAMPLE_S);
  done.add('idle_usage');
  console.log(`\nagent idle (${IDLE_SAMPLE_S} s, no domains): RSS ${usage.rssMb.toFixed(1)} MB, CPU ${usage.cpuPct.toFixed(2)} % of one core`);
} catch (err) {
  failure = err;
  throw err;
} finally {
  try {
    await host?.destroy();
  } finally {
    // Reported, not thrown: a failed write must not hide the benchmark's own error.
    if (values.json !== undefined) {
      await writeBenchJson(values.json, resultsJson()).catch((e: unknown) => {
        process.exitCode = 1;
        console.error(`--json ${values.json}: ${e instanceof Error ? e.message : String(e)}`);
      });
    }
  }
}

/** Everything the table shows, for --json: seconds and MB as numbers (null where not measured), per-VM figures as arrays. */
function resultsJson(): Record<string, unknown> {
  const imageBytes = app ? Object.values(app.files).reduce((s, f) => s + f.bytes, 0) : NaN;
  return {
    ...runOutcome('agent-deploy', startedAt, STEPS, done, failure),
    parameters: {
      payload_mb: payloadMb,
      link_rate_mbit_per_s: rateMbit,
      cpu_cores: os.cpus().length,
      hypervisor: 'QEMU TCG',
      guest_vcpus: 1,
      guest_memory_mb: 256,
      appliance_mb: finiteOrNull(imageBytes / 1e6),
      disk_mb: app ? app.files['disk.qcow2'].bytes / 1e6 : null,
      expected_cold_pt_s: finiteOrNull((imageBytes * 8) / (rateMbit * 1e6)),
      idle_sample_s: IDLE_SAMPLE_S,
    },
    batches: batches.map((b) => ({
      name: b.plan.step,
      vms: b.plan.vms,
      cache: b.plan.cold ? 'cold' : 'warm',
      ...vmFiguresJson(b.perVm),
      batch_wall_s: finiteOrNull(b.wallS),
    })),
    agent_idle_rss_mb: finiteOrNull(usage?.rssMb),
    agent_idle_cpu_percent_of_one_core: finiteOrNull(usage?.cpuPct),
  };
}
