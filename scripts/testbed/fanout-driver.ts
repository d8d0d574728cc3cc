// Drives a fan-out site's coordinator from inside its switch namespace (where
// the coordinator's LAN address exists) and writes what it saw as JSON, for
// the image fan-out tests and benchmark (scripts/testbed/lib/fanout-site.ts):
//   fanout-driver --coordinator ADDR --pki DIR wait-hosts --count N
//   fanout-driver --coordinator ADDR --pki DIR deploy --vo VO --count N [--host H | --each-host H1,H2,...] --out FILE
//     (--each-host: one deployment pinned to each host, all requested at once)
//   fanout-driver --coordinator ADDR --pki DIR status --out FILE
//   fanout-driver --coordinator ADDR --pki DIR wait-policy --sha SHA256
// Phase times are CLOCK_MONOTONIC of this machine, as every process here stamps them.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HostState, OperationState } from '../../shared/gen/vonode/v1/coordinator.js';
import { systemClock } from '../../shared/clock.js';
import { CoordinatorClient } from '../../shared/rpc/coordinator-client.js';
import { channelCredentials } from '../../shared/rpc/credentials.js';
import { phaseMarkFromWire } from '../../shared/rpc/phase-codec.js';

/** One deployment as the driver saw it. */
export interface DrivenOperation {
  id: string;
  node: string;
  host: string;
  state: string;
  error: string;
  attempts: number;
  /** Phase name → start/end (monotonic ms) and the end's details. */
  phases: Record<string, { start?: number; end?: number; details?: Record<string, string> }>;
}

/** What `deploy` writes. */
export interface DeployReport {
  requestMonoMs: number;
  doneMonoMs: number;
  operations: DrivenOperation[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    coordinator: { type: 'string' },
    pki: { type: 'string' },
    vo: { type: 'string' },
    count: { type: 'string' },
    out: { type: 'string' },
    sha: { type: 'string' },
    host: { type: 'string' },
    'each-host': { type: 'string' },
    timeout: { type: 'string', default: '120' },
  },
});

const pki = values.pki ?? '';
const client = new CoordinatorClient(values.coordinator ?? '', channelCredentials({ ca: path.join(pki, 'ca.pem'), cert: path.join(pki, 'cli.pem'), key: path.join(pki, 'cli-key.pem') }, false, 'fanout-driver'));
const deadline = systemClock.monotonicMs() + Number(values.timeout) * 1000;

async function waitHosts(count: number): Promise<void> {
  for (;;) {
    const hosts = await client.listHosts().catch(() => ({ hosts: [] }));
    const ready = hosts.hosts.filter((h) => h.state === HostState.HOST_STATE_UP);
    if (ready.length >= count) return;
    if (systemClock.monotonicMs() > deadline) throw new Error(`only ${ready.length} of ${count} hosts up after ${values.timeout} s`);
    await systemClock.sleep(200);
  }
}

async function waitPolicy(sha: string): Promise<void> {
  for (;;) {
    const status = await client.status();
    if (status.policy?.sha256 === sha) return;
    if (systemClock.monotonicMs() > deadline) throw new Error(`the coordinator did not load policy ${sha} (it has ${status.policy?.sha256 ?? 'none'}${status.policy?.rejectedError ? `; rejected: ${status.policy.rejectedError}` : ''})`);
    await systemClock.sleep(100);
  }
}

async function deploy(vo: string, count: number): Promise<DeployReport> {
  const requestMonoMs = systemClock.monotonicMs();
  const ops = new Map<string, DrivenOperation>();
  const pinned = values['each-host'] ? values['each-host'].split(',').filter(Boolean) : undefined;
  const requests = pinned ? pinned.map((host) => ({ vo, count: 1, host })) : [{ vo, count, host: values.host ?? '' }];
  await Promise.all(requests.map((r) => follow(r, ops)));
  return { requestMonoMs, doneMonoMs: systemClock.monotonicMs(), operations: [...ops.values()] };
}

/** Follows one DeployNodes stream, recording its operations and phases into `ops`. */
async function follow(request: { vo: string; count: number; host: string }, ops: Map<string, DrivenOperation>): Promise<void> {
  const op = (id: string): DrivenOperation => {
    let o = ops.get(id);
    if (!o) ops.set(id, (o = { id, node: '', host: '', state: '', error: '', attempts: 0, phases: {} }));
    return o;
  };
  for await (const ev of client.deployNodes(request)) {
    const e = ev.event;
    if (e?.$case === 'operation') {
      const o = op(e.value.id);
      Object.assign(o, { node: e.value.node, host: e.value.host, state: OperationState[e.value.state] ?? String(e.value.state), error: e.value.error, attempts: e.value.attempt });
    } else if (e?.$case === 'phase') {
      const m = phaseMarkFromWire(e.value);
      const p = (op(m.operationId).phases[m.phase] ??= {});
      if (m.edge === 'start') p.start = m.monotonicMs;
      else Object.assign(p, { end: m.monotonicMs, details: m.details });
    }
  }
}

async function main(): Promise<void> {
  const command = positionals[0];
  if (command === 'wait-hosts') return waitHosts(Number(values.count));
  if (command === 'wait-policy') return waitPolicy(values.sha ?? '');
  if (command === 'deploy') return writeFile(values.out ?? '/dev/stdout', JSON.stringify(await deploy(values.vo ?? '', Number(values.count))));
  if (command === 'status') return writeFile(values.out ?? '/dev/stdout', JSON.stringify(await client.status()));
  throw new Error(`unknown command ${command ?? '(none)'}: wait-hosts | deploy | status`);
}

main().then(
  () => {
    client.close();
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`fanout-driver: ${(e as Error).message}\n`);
    client.close();
    process.exit(1);
  },
);
