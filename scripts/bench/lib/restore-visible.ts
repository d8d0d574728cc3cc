// bench:grid-visible --restore: the cold-boot and the restore path in one
// run, on two identical physical hosts of the namespace testbed (real
// qmaster, BDII, coordinator, agents, QEMU/TCG guests of the bio appliance,
// the real GridWay MAD with the gwd stand-in). phys-01 has snapshot templates,
// phys-02 has none: each run deploys one node on phys-02 (cold boot, warm
// image cache) and one on phys-01 (restore), then `--concurrent` restores at
// once on phys-01. Times come from the coordinator's event stream: a
// deployment's request is its operation's first event, "in the batch
// system" the end of SR, "grid-visible" the end of GW (gwd holds a free slot).
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Edge, Phase } from '../../../shared/gen/vonode/v1/common.js';
import type { CoordinatorEvent } from '../../../shared/gen/vonode/v1/coordinator.js';
import { EventStream } from '../../testbed/lib/event-stream.js';
import { SiteTestbed } from '../../testbed/lib/site-testbed.js';
import { until } from '../../testbed/lib/wait.js';
import { finiteOrNull, runOutcome, writeBenchJson } from './bench-json.js';

export interface RestoreBenchOptions {
  runs: number;
  concurrent: number;
  dir: string;
  json: string | undefined;
}

/** What one deployment took, from the event stream. */
interface Deployment {
  node: string;
  host: string;
  requestUnixMs: number;
  /** Phase end: unix time and duration (ms) and details. */
  ends: Map<string, { unixMs: number; durationMs: number; details: Record<string, string> }>;
}

const VO = 'bio';
const COLD_HOST = 'phys-02';
const RESTORE_HOST = 'phys-01';
const TARGETS = { restore_request_to_lrms_median_s: 1.5, restore_vmb_vmr_s: 0.5, speedup_request_to_gridway: 3, concurrent_restore_vmb_vmr_s: 1.5 };
const PHASE_NAMES = new Map<number, string>(['CR', 'PT', 'DA', 'VMB', 'VMR', 'SR', 'PUB', 'GW'].map((p) => [Phase[`PHASE_${p}` as keyof typeof Phase] as number, p]));

export async function runRestoreVisible(o: RestoreBenchOptions): Promise<void> {
  const startedAt = new Date();
  const steps = ['site_start', 'warm_up', ...Array.from({ length: o.runs }, (_, i) => `run_${i + 1}`), 'concurrent', 'site_stop'];
  const done = new Set<string>();
  const byOp = new Map<string, Deployment>();
  let failure: unknown;
  const cold: Deployment[] = [];
  const restored: Deployment[] = [];
  let concurrent: Deployment[] = [];

  await rm(o.dir, { recursive: true, force: true });
  const site = new SiteTestbed({ dir: o.dir, hosts: 2, poolSize: Math.max(6, o.concurrent), idleBeforeDrain: '30m', templates: 'first-host', say: (l) => console.log(`  ${l}`) });
  let stream: EventStream | undefined;
  const failed: Array<{ host: string; error: string }> = [];
  let consoleSeq = 0;
  const deploy = async (host: string, count: number): Promise<Deployment[]> => {
    const before = new Set(byOp.keys());
    try {
      await site.cli(['deploy', '--vo', VO, '--count', String(count), '--host', host], 600_000);
    } catch (e) {
      // Counted and reported, not fatal: one guest that never leases (see guestCmdline's note on TCG
      // guests) must not throw away the other runs' figures.
      const error = e instanceof Error ? e.message.slice(0, 600) : String(e);
      failed.push({ host, error });
      console.log(`  a deployment on ${host} failed: ${error}`);
      for (const n of (JSON.parse(await site.cli(['nodes', '--json'])) as { nodes?: Array<{ hostname: string }> }).nodes ?? []) await site.cli(['remove', n.hostname], 300_000).catch(() => undefined);
      return [];
    }
    // GW may end a moment after the CLI returns (it follows the operation to success, which waits for GW).
    const fresh = await until('the phase events of the new deployments', () => {
      const ds = [...byOp.entries()].filter(([id]) => !before.has(id)).map(([, d]) => d).filter((d) => d.host === host);
      return ds.length === count && ds.every((d) => d.ends.has('GW')) ? ds : undefined;
    }, 60_000, 100);
    // The guests' consoles (uptime stamps of the identity, the lease and the execd) go beside the JSON.
    const consoles = `${o.dir}-consoles`;
    await mkdir(consoles, { recursive: true });
    const physical = site.hosts.find((h) => h.name === host);
    for (const d of fresh) {
      const from = physical ? path.join(physical.stateDir, 'run', `vn-${d.node}`, 'console.log') : '';
      await copyFile(from, path.join(consoles, `${String(++consoleSeq).padStart(3, '0')}-${host}-${d.node}.log`)).catch(() => undefined);
      await site.cli(['remove', d.node], 300_000);
    }
    return fresh;
  };
  try {
    await site.start();
    stream = new EventStream(site.cliArgv(['events', '--json']), (e) => collect(byOp, e));
    stream.start();
    done.add('site_start');
    // Warm-up: phys-01 boots cold once and builds its template when idle; phys-02 caches the images.
    await deploy(RESTORE_HOST, 1);
    await until('the template on phys-01', async () => (await site.hosts[0]!.templates()).length > 0, 300_000, 500);
    await deploy(COLD_HOST, 1);
    done.add('warm_up');
    for (let run = 1; run <= o.runs; run++) {
      const c = await deploy(COLD_HOST, 1);
      const r = await deploy(RESTORE_HOST, 1);
      cold.push(...c);
      restored.push(...r);
      console.log(`  run ${run}: cold ${c[0] ? fmt(toLrms(c[0])) : 'failed'} s, restore ${r[0] ? fmt(toLrms(r[0])) : 'failed'} s to the batch system`);
      done.add(`run_${run}`);
    }
    concurrent = await deploy(RESTORE_HOST, o.concurrent);
    done.add('concurrent');
  } catch (e) {
    failure = e;
  } finally {
    await stream?.stop().catch(() => undefined);
    try {
      await site.stop();
      done.add('site_stop');
    } catch (e) {
      failure ??= e;
    }
  }
  const result = { ...figures(cold, restored, concurrent, o), failed_deployments: failed };
  if (failure === undefined) printReport(cold, restored, concurrent, result);
  if (o.json !== undefined) {
    await writeBenchJson(o.json, { ...runOutcome('grid-visible-restore', startedAt, steps, done, failure), ...result }).catch((e: unknown) => {
      process.exitCode = 1;
      console.error(`--json ${o.json}: ${e instanceof Error ? e.message : String(e)}`);
    });
  }
  if (failure !== undefined) throw failure;
}

/** Files each event under its operation: the first event is the request; phase ends are kept by name. */
function collect(byOp: Map<string, Deployment>, e: CoordinatorEvent): void {
  if (e.event?.$case === 'operation') {
    const op = e.event.value;
    if (op.kind !== 1) return; // OPERATION_KIND_DEPLOY
    const d = byOp.get(op.id) ?? { node: op.node, host: op.host, requestUnixMs: e.unixMs, ends: new Map() };
    if (op.host) d.host = op.host;
    byOp.set(op.id, d);
  }
  if (e.event?.$case === 'phase' && e.event.value.edge === Edge.EDGE_END) {
    const p = e.event.value;
    const d = byOp.get(p.operationId);
    const name = PHASE_NAMES.get(p.phase);
    if (d && name) d.ends.set(name, { unixMs: p.unixMs, durationMs: p.durationMs, details: p.details });
  }
}

const toLrms = (d: Deployment): number => ((d.ends.get('SR')?.unixMs ?? NaN) - d.requestUnixMs) / 1000;
const toGw = (d: Deployment): number => ((d.ends.get('GW')?.unixMs ?? NaN) - d.requestUnixMs) / 1000;
const toBdii = (d: Deployment): number => ((d.ends.get('PUB')?.unixMs ?? NaN) - d.requestUnixMs) / 1000;
const vmbVmr = (d: Deployment): number => ((d.ends.get('VMB')?.durationMs ?? NaN) + (d.ends.get('VMR')?.durationMs ?? NaN)) / 1000;
const phaseS = (d: Deployment, p: string): number => (d.ends.get(p)?.durationMs ?? NaN) / 1000;
const wasRestored = (d: Deployment): boolean => d.ends.get('VMB')?.details['restored'] === 'true';
const detailMs = (d: Deployment, k: string): number => Number(d.ends.get('VMB')?.details[k] ?? NaN) / 1000;

function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const fmt = (s: number): string => (Number.isFinite(s) ? s.toFixed(2) : '-');

function figures(cold: Deployment[], restored: Deployment[], concurrent: Deployment[], o: RestoreBenchOptions): Record<string, unknown> {
  const col = (ds: Deployment[], f: (d: Deployment) => number): Array<number | null> => ds.map((d) => finiteOrNull(f(d)));
  const speedup = median(cold.map(toGw)) / median(restored.map(toGw));
  return {
    runs: o.runs,
    parameters: { vo: VO, cold_host: COLD_HOST, restore_host: RESTORE_HOST, concurrent_restores: o.concurrent, image_cache: 'warm', dir: o.dir },
    boot_request_to_lrms_s: col(cold, toLrms),
    boot_request_to_gridway_s: col(cold, toGw),
    boot_request_to_bdii_s: col(cold, toBdii),
    boot_vmb_vmr_s: col(cold, vmbVmr),
    restore_request_to_lrms_s: col(restored, toLrms),
    restore_request_to_gridway_s: col(restored, toGw),
    restore_request_to_bdii_s: col(restored, toBdii),
    restore_vmb_vmr_s: col(restored, vmbVmr),
    restore_sr_s: col(restored, (d) => phaseS(d, 'SR')),
    restore_gw_s: col(restored, (d) => phaseS(d, 'GW')),
    restore_launch_s: col(restored, (d) => detailMs(d, 'restore_launch_ms')),
    restore_load_s: col(restored, (d) => detailMs(d, 'restore_load_ms')),
    restore_identity_s: col(restored, (d) => detailMs(d, 'restore_identity_ms')),
    restored_flags: restored.map(wasRestored),
    cold_flags_restored: cold.map(wasRestored),
    concurrent_restore_vmb_vmr_s: col(concurrent, vmbVmr),
    concurrent_restored_flags: concurrent.map(wasRestored),
    median_boot_request_to_lrms_s: finiteOrNull(median(cold.map(toLrms))),
    median_restore_request_to_lrms_s: finiteOrNull(median(restored.map(toLrms))),
    median_boot_request_to_gridway_s: finiteOrNull(median(cold.map(toGw))),
    median_restore_request_to_gridway_s: finiteOrNull(median(restored.map(toGw))),
    median_restore_vmb_vmr_s: finiteOrNull(median(restored.map(vmbVmr))),
    max_concurrent_restore_vmb_vmr_s: finiteOrNull(Math.max(...concurrent.map(vmbVmr))),
    speedup_request_to_gridway: finiteOrNull(speedup),
    targets: TARGETS,
  };
}

function printReport(cold: Deployment[], restored: Deployment[], concurrent: Deployment[], r: Record<string, unknown>): void {
  const row = (what: string, d: Deployment): string =>
    `${what.padEnd(9)} ${d.node.padEnd(8)} ${['PT', 'DA', 'VMB', 'VMR', 'SR', 'GW'].map((p) => fmt(phaseS(d, p)).padStart(6)).join(' ')}  ${fmt(vmbVmr(d)).padStart(7)} ${fmt(toLrms(d)).padStart(7)} ${fmt(toGw(d)).padStart(7)}  ${wasRestored(d) ? 'yes' : 'no'}`;
  console.log('\nrequest → batch system (LRMS: end of SR) and → grid-visible (GridWay: end of GW), seconds; warm image cache');
  console.log(`PATH      NODE          PT     DA    VMB    VMR     SR     GW  VMB+VMR    LRMS      GW  restored`);
  cold.forEach((d) => console.log(row('cold', d)));
  restored.forEach((d) => console.log(row('restore', d)));
  concurrent.forEach((d) => console.log(row(`${concurrent.length}-at-once`, d)));
  const n = (k: string): string => fmt(r[k] as number);
  console.log(`medians: cold → LRMS ${n('median_boot_request_to_lrms_s')} s, restore → LRMS ${n('median_restore_request_to_lrms_s')} s (target ≤ ${TARGETS.restore_request_to_lrms_median_s})`);
  console.log(`         cold → GW ${n('median_boot_request_to_gridway_s')} s, restore → GW ${n('median_restore_request_to_gridway_s')} s: ${n('speedup_request_to_gridway')}× (target ≥ ${TARGETS.speedup_request_to_gridway}×)`);
  console.log(`         restore VMB+VMR ${n('median_restore_vmb_vmr_s')} s (target ≤ ${TARGETS.restore_vmb_vmr_s}); ${concurrent.length} at once: max ${n('max_concurrent_restore_vmb_vmr_s')} s (target ≤ ${TARGETS.concurrent_restore_vmb_vmr_s})`);
}
