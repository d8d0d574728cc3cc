// Benchmark of the agent alone (issue 2): deploys 1 and 3 VMs on one testbed
// host, cold and warm cache, through a real vonode-agent with QEMU (TCG)
// guests, and prints Table-2-style rows (seconds). Also: PT against the link
// rate, downloads per batch, and the idle agent's RSS and CPU.
// Usage: node --import tsx scripts/bench/agent-deploy.ts [--payload-mb 100] [--rate-mbit 400]
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AgentHost } from '../testbed/lib/agent-host.js';
import { ensureAppliance, type ApplianceManifest } from '../testbed/lib/appliance.js';
import { systemClock } from '../../shared/clock.js';
import { ProcessRunner, runChecked } from '../../shared/process/command-runner.js';
import type { VmSpec } from '../../shared/gen/vonode/v1/common.js';
import { phaseMarkFromWire } from '../../shared/rpc/phase-codec.js';
import type { PhaseMark } from '../../shared/phases.js';

const { values } = parseArgs({
  options: { 'payload-mb': { type: 'string', default: '100' }, 'rate-mbit': { type: 'string', default: '400' }, progress: { type: 'boolean', default: false } },
});
const payloadMb = Number(values['payload-mb']);
const rateMbit = Number(values['rate-mbit']);
const COLS = ['CR', 'PT', 'DA', 'VMB', 'VMR'] as const;

function vm(host: AgentHost, app: ApplianceManifest, n: number): VmSpec {
  const f = app.files;
  return {
    hostname: `vwn-bench-${String(n).padStart(3, '0')}`, ip: `10.213.30.${10 + n}`, mac: `52:54:00:30:00:${n.toString(16).padStart(2, '0')}`, vo: 'bench',
    disk: { url: `${host.imageUrl}/disk.qcow2`, sha256: f['disk.qcow2'].sha256, sizeBytes: f['disk.qcow2'].bytes },
    kernel: { url: `${host.imageUrl}/vmlinuz`, sha256: f.vmlinuz.sha256, sizeBytes: f.vmlinuz.bytes },
    initrd: { url: `${host.imageUrl}/initrd.gz`, sha256: f['initrd.gz'].sha256, sizeBytes: f['initrd.gz'].bytes },
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

function row(label: string, marks: PhaseMark[]): string {
  const d = (p: string): number => (marks.find((m) => m.phase === p && m.edge === 'end')?.durationMs ?? NaN) / 1000;
  const first = marks[0]!.monotonicMs;
  const last = marks[marks.length - 1]!.monotonicMs;
  const bytes = marks.find((m) => m.phase === 'PT' && m.edge === 'end')?.details['bytes'] ?? '?';
  return `${label.padEnd(22)} ${COLS.map((c) => d(c).toFixed(3).padStart(7)).join(' ')} ${((last - first) / 1000).toFixed(3).padStart(8)}   ${bytes}`;
}

async function batch(host: AgentHost, app: ApplianceManifest, label: string, count: number, base: number): Promise<void> {
  const t0 = systemClock.monotonicMs();
  const all = await Promise.all(Array.from({ length: count }, (_, i) => deploy(host, vm(host, app, base + i))));
  const wall = (systemClock.monotonicMs() - t0) / 1000;
  all.forEach((m, i) => console.log(row(`${label} #${i + 1}`, m)));
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

// The agent runs as installed: compiled JavaScript, not the sources through tsx.
await runChecked(new ProcessRunner(), [process.execPath, path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
const app = await ensureAppliance(path.join(process.env['VONODE_CACHE'] ?? '/var/cache/vonode-build', `appliance-bench-${payloadMb}`), 'bench', payloadMb);
const host = new AgentHost({
  name: `vnb-agent-${process.pid}`, prefix: '10.213.30', workDir: path.join(os.tmpdir(), `vonode-bench-${process.pid}`),
  imageDir: app.dir, imageRateMbit: rateMbit, useBuild: true,
});
try {
  await host.start();
  const imageBytes = Object.values(app.files).reduce((s, f) => s + f.bytes, 0);
  console.log(`appliance: ${(imageBytes / 1e6).toFixed(1)} MB (disk ${(app.files['disk.qcow2'].bytes / 1e6).toFixed(1)} MB), repository link ${rateMbit} Mbit/s, QEMU TCG, ${os.cpus().length} cores`);
  console.log(`expected PT on a cold cache (size / link rate): ${((imageBytes * 8) / (rateMbit * 1e6)).toFixed(3)} s`);
  console.log(`\n${'deployment'.padEnd(22)} ${COLS.map((c) => c.padStart(7)).join(' ')} ${'Total'.padStart(8)}   PT bytes`);
  await batch(host, app, '1 VM cold', 1, 1);
  await batch(host, app, '1 VM warm', 1, 2);
  await evictAll(host);
  await batch(host, app, '3 VMs cold', 3, 3);
  await batch(host, app, '3 VMs warm', 3, 6);
  // `ip netns exec` execs the agent, so the spawned pid is the agent's own.
  const usage = await idleUsage(host.agentPid!, 10);
  console.log(`\nagent idle (10 s, no domains): RSS ${usage.rssMb.toFixed(1)} MB, CPU ${usage.cpuPct.toFixed(2)} % of one core`);
} finally {
  await host.destroy();
}

