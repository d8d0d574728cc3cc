// Image fan-out at site scale (issue 10): `--hosts` host namespaces on a
// namespace LAN, each host's link and the repository's uplink shaped with tc
// to `--link-mbit`, one `--image-mb` appliance, one VM deployed on every host
// at once from a cold cache. Real vonode-agents (simulated hypervisor: the
// transfers, TLS, heartbeats and placement are real) and a real coordinator
// (scripts/testbed/lib/fanout-site.ts). Measures, in one run:
//   one_host_pt_s          one host alone: request → its PT end
//   all_hosts_pt_s         every host at once: request → the last host's PT end (peers on)
//   repo_bytes_served      bytes the repository's link sent during that fan-out
//   repo_only_all_hosts_pt_s  the same fan-out with peers off (every host from the repository)
//   prefetch_*             the image prefetched on every host first, then demand → all VMs running,
//                          against one guest boot (VMB + VMR of the simulated guest)
// Prints a table; --json FILE writes the figures (seconds as numbers, per-host arrays).
// Usage (root): node --import tsx scripts/bench/image-fanout.ts [--hosts 16] [--link-mbit 100] [--image-mb 300]
//               [--piece-kib 1024] [--skip-repo-only] [--dir /tmp/vonode-bench-fanout] [--json FILE]
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ProcessRunner, runChecked } from '../../shared/process/command-runner.js';
import { LinkRateSampler, type LinkRates } from '../testbed/lib/fanout-lan.js';
import { FanoutSite, VO } from '../testbed/lib/fanout-site.js';
import { buildDaemons } from '../testbed/lib/testbed-process.js';
import { until } from '../testbed/lib/wait.js';
import type { DeployReport } from '../testbed/fanout-driver.js';
import { parseBenchArgs, usageError as benchUsageError } from './lib/bench-cli.js';
import { finiteOrNull, runOutcome, writeBenchJson } from './lib/bench-json.js';

const USAGE = 'usage (root): image-fanout.ts [--hosts 2..200 (16)] [--link-mbit N (100)] [--image-mb N (300)] [--piece-kib 64..65536, a multiple of 64 (1024)] [--skip-repo-only] [--dir DIR] [--json FILE]';
const CLI = { name: 'image-fanout', usage: USAGE };
const usageError = (message: string): never => benchUsageError(CLI, message);
const values = parseBenchArgs(CLI, {
  hosts: { type: 'string', default: '16' },
  'link-mbit': { type: 'string', default: '100' },
  'image-mb': { type: 'string', default: '300' },
  'piece-kib': { type: 'string', default: '1024' },
  'skip-repo-only': { type: 'boolean', default: false },
  dir: { type: 'string', default: '/tmp/vonode-bench-fanout' },
});
const HOSTS = Number(values.hosts);
const LINK_MBIT = Number(values['link-mbit']);
const IMAGE_BYTES = Number(values['image-mb']) * 1e6;
const PIECE_BYTES = Number(values['piece-kib']) * 1024;
if (!Number.isInteger(HOSTS) || HOSTS < 2 || HOSTS > 200) usageError(`--hosts must be a whole number from 2 to 200, got ${values.hosts}`);
if (!(LINK_MBIT >= 1 && LINK_MBIT <= 10_000)) usageError(`--link-mbit must be 1..10000, got ${values['link-mbit']}`);
if (!(IMAGE_BYTES >= 1e6 && IMAGE_BYTES <= 20e9)) usageError(`--image-mb must be 1..20000, got ${values['image-mb']}`);
if (!Number.isInteger(Number(values['piece-kib']) / 64) || PIECE_BYTES < 64 * 1024 || PIECE_BYTES > 64 * 1024 * 1024) usageError(`--piece-kib must be a multiple of 64 from 64 to 65536, got ${values['piece-kib']}`);
if (process.getuid?.() !== 0) {
  process.stderr.write('image-fanout: run as root (network namespaces, tc)\n');
  process.exit(2);
}

/** Targets of the issue. */
const TARGET_RATIO = 1.5;
const TARGET_REPO_COPIES = 2;
const TARGET_PREFETCH_BEYOND_BOOT_S = 2;
/** The 2007 prototype's image copy for one VM (PT of Table 2). */
const PAPER_2007_PT_S = 96.8;

const runner = new ProcessRunner();
const startedAt = new Date();
const STEPS = ['build', 'peers_site_start', 'one_host', 'all_hosts', 'prefetch', 'peers_site_stop', ...(values['skip-repo-only'] ? [] : ['repo_only'])];
const done = new Set<string>();
let failure: unknown;
const figures: Record<string, unknown> = {};
const s = (ms: number): number => Math.round(ms) / 1000;
const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? (v[Math.floor((v.length - 1) / 2)]! + v[Math.ceil((v.length - 1) / 2)]!) / 2 : NaN;
};

function site(prefix: string, subnet: string, peers: boolean): FanoutSite {
  return new FanoutSite({
    prefix, subnet, hosts: HOSTS, hostLinkMbit: LINK_MBIT, repoLinkMbit: LINK_MBIT, imageBytes: IMAGE_BYTES, pieceBytes: PIECE_BYTES,
    workDir: path.join(values.dir, prefix), peers, useBuild: true,
    coordinator: { transfers: { repositoryMbit: LINK_MBIT, defaultHostMbit: LINK_MBIT } },
  });
}

/** One VM on each of `hosts`, all requested at once (pinned: placement would stack VMs on a host that caches the image). */
async function deploy(on: FanoutSite, hosts: readonly string[], name: string): Promise<DeployReport> {
  const file = path.join(on.options.workDir, `${name}.json`);
  await runChecked(runner, on.driver(['deploy', '--vo', VO, '--count', '1', '--each-host', hosts.join(','), '--out', file, '--timeout', '3600']));
  const report = JSON.parse(await readFile(file, 'utf8')) as DeployReport;
  const failed = report.operations.filter((o) => o.state !== 'OPERATION_STATE_SUCCEEDED');
  if (failed.length) throw new Error(`${name}: ${failed.length} deployment(s) failed: ${failed.map((o) => `${o.host}: ${o.error}`).join('; ')}`);
  return report;
}

/** Request → each deployment's end of `phase`, seconds. */
const sinceRequest = (r: DeployReport, phase: string): number[] => r.operations.map((o) => s((o.phases[phase]?.end ?? NaN) - r.requestMonoMs));
const duration = (r: DeployReport, phase: string): number[] => r.operations.map((o) => s((o.phases[phase]?.end ?? NaN) - (o.phases[phase]?.start ?? NaN)));

/** This machine's CPU time so far (all cores): busy and total, ms. */
function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    total += t;
    busy += t - c.times.idle;
  }
  return { busy, total };
}

/**
 * Runs `run` while sampling every link, and says how busy this machine's CPUs
 * were: every simulated host shares them, so a fan-out whose links need more
 * bytes/s than the CPUs can move through TLS, hashing and the namespace
 * network stack is CPU-bound here, not link-bound as on a real site.
 */
async function withSampler<T>(on: FanoutSite, run: () => Promise<T>): Promise<{ result: T; rates: LinkRates[]; cpuBusy: number; seconds: number }> {
  const sampler = new LinkRateSampler(on.lan, on.lan.linked);
  const cpu0 = cpuTimes();
  const t0 = performance.now();
  sampler.start();
  try {
    const result = await run();
    const rates = await sampler.stop();
    const cpu1 = cpuTimes();
    return { result, rates, cpuBusy: (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total), seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    await sampler.stop().catch(() => undefined);
    throw e;
  }
}

async function peersRun(): Promise<void> {
  const on = site('vnfb', '10.86.0', true);
  try {
    await on.start();
    await runChecked(runner, on.driver(['wait-hosts', '--count', String(HOSTS), '--timeout', '300']));
    done.add('peers_site_start');

    const all = on.hosts.map((h) => h.name);
    const one = await deploy(on, [all[0]!], 'one-host');
    figures['one_host_pt_s'] = sinceRequest(one, 'PT')[0];
    figures['one_host_pt_duration_s'] = duration(one, 'PT')[0];
    done.add('one_host');

    await on.useNewImage('fanout.img');
    const { result: fanout, rates, cpuBusy, seconds } = await withSampler(on, () => deploy(on, all, 'all-hosts'));
    const ends = sinceRequest(fanout, 'PT');
    const repo = rates.find((r) => r.member === 'repo')!;
    const received = rates.filter((r) => r.member !== 'repo').reduce((sum, r) => sum + r.rxBytes, 0);
    Object.assign(figures, {
      cpu_busy_fraction: cpuBusy,
      cpus: os.cpus().length,
      aggregate_receive_mbit: (received * 8) / 1e6 / seconds,
      links_need_mbit: HOSTS * LINK_MBIT,
      all_hosts_pt_s: Math.max(...ends),
      per_host_pt_end_s: ends,
      repo_bytes_served: repo.txBytes,
      repo_copies: repo.txBytes / IMAGE_BYTES,
      max_link_tx_mbit: Math.max(...rates.map((r) => r.maxTxBytesPerSec)) * 8 / 1e6,
      max_link_rx_mbit: Math.max(...rates.map((r) => r.maxRxBytesPerSec)) * 8 / 1e6,
    });
    figures['ratio'] = (figures['all_hosts_pt_s'] as number) / (figures['one_host_pt_s'] as number);
    done.add('all_hosts');

    const t0 = performance.now();
    await on.useNewImage('prefetched.img', { hosts: 'all', when: 'idle' });
    await until('the image prefetched on every host', async () => ((await Promise.all(on.hosts.map((h) => on.cachedBytes(h)))).every((b) => b === IMAGE_BYTES) ? true : undefined), 3_600_000, 500);
    figures['prefetch_all_hosts_s'] = s(performance.now() - t0);
    const warm = await deploy(on, all, 'after-prefetch');
    const boot = warm.operations.map((o) => s((o.phases['VMR']?.end ?? NaN) - (o.phases['VMB']?.start ?? NaN)));
    Object.assign(figures, {
      prefetch_pt_s: duration(warm, 'PT'),
      prefetch_cache_hits: warm.operations.filter((o) => o.phases['PT']?.details?.['cache_hit'] === 'true').length,
      prefetch_demand_to_all_running_s: Math.max(...sinceRequest(warm, 'VMR')),
      guest_boot_s: median(boot),
    });
    figures['prefetch_beyond_boot_s'] = (figures['prefetch_demand_to_all_running_s'] as number) - (figures['guest_boot_s'] as number);
    done.add('prefetch');
  } finally {
    await on.stop();
    done.add('peers_site_stop');
  }
}

async function repoOnlyRun(): Promise<void> {
  const on = site('vnfr', '10.87.0', false);
  try {
    await on.start();
    await runChecked(runner, on.driver(['wait-hosts', '--count', String(HOSTS), '--timeout', '300']));
    const { result, rates } = await withSampler(on, () => deploy(on, on.hosts.map((h) => h.name), 'repo-only'));
    const ends = sinceRequest(result, 'PT');
    figures['repo_only_all_hosts_pt_s'] = Math.max(...ends);
    figures['repo_only_per_host_pt_end_s'] = ends;
    figures['repo_only_repo_bytes_served'] = rates.find((r) => r.member === 'repo')!.txBytes;
    done.add('repo_only');
  } finally {
    await on.stop();
  }
}

function num(key: string): number {
  const v = figures[key];
  return typeof v === 'number' ? v : NaN;
}

function printTable(): void {
  const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const lines = [
    `image fan-out: ${HOSTS} hosts, ${LINK_MBIT} Mbit/s links (repository uplink too), ${(IMAGE_BYTES / 1e6).toFixed(0)} MB image, ${PIECE_BYTES / 1024} KiB pieces`,
    '',
    'figure                                        value      target',
    `one host alone: request → PT end          ${f(num('one_host_pt_s')).padStart(8)} s   (2007: ${PAPER_2007_PT_S} s for its image copy)`,
    `all hosts at once: request → last PT end  ${f(num('all_hosts_pt_s')).padStart(8)} s`,
    `ratio all/one                             ${f(num('ratio'), 2).padStart(8)}     ≤ ${TARGET_RATIO}: ${verdict(num('ratio') <= TARGET_RATIO)}`,
    `repository bytes sent                     ${f(num('repo_bytes_served') / 1e6).padStart(8)} MB  ≤ ${TARGET_REPO_COPIES} × image: ${verdict(num('repo_copies') <= TARGET_REPO_COPIES)} (${f(num('repo_copies'), 2)} copies)`,
    `busiest link, 1 s window (tx / rx)        ${f(num('max_link_tx_mbit'))} / ${f(num('max_link_rx_mbit'))} Mbit/s`,
    `all hosts together received               ${f(num('aggregate_receive_mbit')).padStart(8)} Mbit/s of the links' ${f(num('links_need_mbit'), 0)}; this machine's ${String(figures['cpus'] ?? '-')} CPUs ${f(100 * num('cpu_busy_fraction'), 0)} % busy${num('cpu_busy_fraction') > 0.9 ? ' (CPU-bound: every simulated host shares them)' : ''}`,
    `repository only: request → last PT end    ${f(num('repo_only_all_hosts_pt_s')).padStart(8)} s   (ratio ${f(num('repo_only_all_hosts_pt_s') / num('one_host_pt_s'), 1)})`,
    `prefetch on all hosts (idle links)        ${f(num('prefetch_all_hosts_s')).padStart(8)} s`,
    `after prefetch: demand → all VMs running  ${f(num('prefetch_demand_to_all_running_s'), 2).padStart(8)} s   ≤ boot ${f(num('guest_boot_s'), 2)} + ${TARGET_PREFETCH_BEYOND_BOOT_S} s: ${verdict(num('prefetch_beyond_boot_s') <= TARGET_PREFETCH_BEYOND_BOOT_S)} (cache hits ${String(figures['prefetch_cache_hits'] ?? '-')}/${HOSTS})`,
  ];
  console.log(lines.join('\n'));
}

try {
  await buildDaemons(runner);
  done.add('build');
  await peersRun();
  if (!values['skip-repo-only']) await repoOnlyRun();
} catch (e) {
  failure = e;
  process.stderr.write(`image-fanout: ${e instanceof Error ? e.message : String(e)}\n`);
}
printTable();
if (values.json) {
  const json: Record<string, unknown> = { ...runOutcome('image-fanout', startedAt, STEPS, done, failure), hosts: HOSTS, image_bytes: IMAGE_BYTES, link_mbit: LINK_MBIT, piece_bytes: PIECE_BYTES };
  for (const key of ['one_host_pt_s', 'one_host_pt_duration_s', 'all_hosts_pt_s', 'ratio', 'repo_bytes_served', 'repo_copies', 'max_link_tx_mbit', 'max_link_rx_mbit', 'cpu_busy_fraction', 'cpus', 'aggregate_receive_mbit', 'links_need_mbit', 'repo_only_all_hosts_pt_s', 'repo_only_repo_bytes_served', 'prefetch_all_hosts_s', 'prefetch_demand_to_all_running_s', 'guest_boot_s', 'prefetch_beyond_boot_s', 'prefetch_cache_hits']) {
    json[key] = finiteOrNull(figures[key] as number | undefined);
  }
  for (const key of ['per_host_pt_end_s', 'repo_only_per_host_pt_end_s', 'prefetch_pt_s']) json[key] = ((figures[key] as number[] | undefined) ?? []).map((x) => finiteOrNull(x));
  await writeBenchJson(values.json, json);
}
process.exit(failure === undefined ? 0 : 1);
