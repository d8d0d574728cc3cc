// A SIMULATED agent fleet: one child process of the coordinator scale
// benchmark running `--count` simulated agents (scripts/bench/lib/simulated-agent.ts),
// each with its own AgentService server on 127.0.0.1:0 and its own channel
// to the coordinator, registering and heartbeating through the real
// CoordinatorLink. The simulated domains and image caches are kept in a JSON
// state file (as the real agent keeps its domain records on disk, and its VMs
// outlive it), so a SIGKILLed fleet restarted with the same file reports the
// same domains when it registers again.
//
// Usage (the benchmark starts it): node --import tsx scripts/bench/lib/simulated-agent-fleet.ts
//   --coordinator 127.0.0.1:PORT --first 1 --count 125 --state FILE [--tls-dir DIR | --insecure]
// With --tls-dir each simulated agent uses its own agent certificate DIR/<host>.pem (as a real
// host would: the coordinator accepts a registration only as the certificate's CN).
// Prints one JSON line to stdout: {"event":"listening","agents":N,"ms":T} once every server is bound.
// Writes STATE.heartbeats.json every second: heartbeat calls made, how many were answered after
// more than 1 s (`late`), and the slowest (the benchmark's heartbeat_late comes from these files).
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { COORDINATOR_CHANNEL_OPTIONS } from '../../../agent/coordinator-link/coordinator-link.js';
import { pino } from 'pino';
import { CoordinatorClient } from '../../../shared/rpc/coordinator-client.js';
import { channelCredentials, serverCredentials, type TlsFiles } from '../../../shared/rpc/credentials.js';
import { SimulatedAgent, simulatedHostName, type SimulatedAgentState } from './simulated-agent.js';

const t0 = performance.now();
const { values } = parseArgs({
  options: {
    coordinator: { type: 'string' }, first: { type: 'string', default: '1' }, count: { type: 'string', default: '125' },
    state: { type: 'string' }, 'tls-dir': { type: 'string' },
    insecure: { type: 'boolean', default: false },
  },
});
if (!values.coordinator || !values.state) {
  process.stderr.write('usage: simulated-agent-fleet.ts --coordinator HOST:PORT --state FILE [--first N --count N] [--tls-dir DIR | --insecure]\n');
  process.exit(2);
}
const coordinator = values.coordinator;
const stateFile = values.state;
const first = Number(values.first);
const count = Number(values.count);
const tlsDir = values['tls-dir'];
const tlsOf = (name: string): TlsFiles | undefined =>
  tlsDir ? { ca: path.join(tlsDir, 'ca.pem'), cert: path.join(tlsDir, `${name}.pem`), key: path.join(tlsDir, `${name}-key.pem`) } : undefined;
// Warnings only (a failing registration is worth seeing); the parent sends stderr to a log file.
// To stderr, which the benchmark sends to the fleet's log file: stdout is the pipe the benchmark stops reading after "listening".
const logger = pino({ name: 'simulated-agent-fleet', level: process.env['VONODE_LOG_LEVEL'] ?? 'warn', base: { pid: process.pid } }, pino.destination(2));

function loadState(): Record<string, SimulatedAgentState> {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, SimulatedAgentState>;
  } catch {
    return {};
  }
}

const previous = loadState();
const agents: SimulatedAgent[] = [];
let saveTimer: ReturnType<typeof setTimeout> | undefined;
let saving = Promise.resolve();
/** Writes the state file at most every 50 ms, atomically (temp file + rename). */
const scheduleSave = (): void => {
  if (saveTimer) return;
  saveTimer = setTimeout(() => {
    saveTimer = undefined;
    const text = JSON.stringify(Object.fromEntries(agents.map((a) => [a.name, a.snapshot()])));
    saving = saving.then(async () => {
      await writeFile(`${stateFile}.tmp`, text);
      await rename(`${stateFile}.tmp`, stateFile);
    }).catch((err: unknown) => logger.error({ err }, 'cannot write the simulated fleet state file'));
  }, 50);
};

/** Heartbeat round trips as the agents see them: a heartbeat answered after more than 1 s is late. */
const heartbeats = { total: 0, late: 0, maxMs: 0 };
const timedHeartbeats = (c: CoordinatorClient): Pick<CoordinatorClient, 'registerAgent' | 'heartbeat'> => ({
  registerAgent: (r, deadlineMs) => c.registerAgent(r, deadlineMs),
  heartbeat: async (r, deadlineMs) => {
    const t = performance.now();
    try {
      return await c.heartbeat(r, deadlineMs);
    } finally {
      const ms = performance.now() - t;
      heartbeats.total++;
      if (ms > 1000) heartbeats.late++;
      heartbeats.maxMs = Math.max(heartbeats.maxMs, ms);
    }
  },
});
let statsWrite = Promise.resolve();
const statsTimer = setInterval(() => {
  // One write at a time: two overlapping writes would rename the same temporary file twice.
  statsWrite = statsWrite
    .then(() => writeFile(`${stateFile}.heartbeats.json.tmp`, JSON.stringify(heartbeats)))
    .then(() => rename(`${stateFile}.heartbeats.json.tmp`, `${stateFile}.heartbeats.json`))
    .catch((err: unknown) => logger.error({ err }, 'cannot write the heartbeat stats file'));
}, 1000);
statsTimer.unref();

for (let i = first; i < first + count; i++) {
  const name = simulatedHostName(i);
  const serverCreds = serverCredentials(tlsOf(name), values.insecure, 'simulated agent');
  const clientCreds = channelCredentials(tlsOf(name), values.insecure, 'simulated agent → coordinator', { role: 'coordinator' });
  // Its own subchannel pool: each simulated agent gets its own TCP connection, as separate hosts would.
  const client = timedHeartbeats(new CoordinatorClient(coordinator, clientCreds, { ...COORDINATOR_CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 }));
  const saved = previous[name];
  agents.push(new SimulatedAgent({
    name, client, serverCredentials: serverCreds, logger, onChange: scheduleSave,
    ...(saved ? { domains: saved.domains, cachedImages: saved.cachedImages } : {}),
  }));
}
await Promise.all(agents.map((a) => a.start()));
process.stdout.write(`${JSON.stringify({ event: 'listening', agents: agents.length, ms: performance.now() - t0 })}\n`);

const stop = (): void => {
  void Promise.all(agents.map((a) => a.stop()))
    .then(() => saving)
    .finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The benchmark is the parent: if it goes away without killing us, do not linger.
process.stdin.on('end', stop);
process.stdin.resume();
