import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { channelCredentials } from '../../../../shared/rpc/credentials.js';
import { encode, hostileStrings, messageOf, nearValid } from '../../../helpers/hostile-input.js';
import { FuzzTally, RawRpcClient, serviceMethods, type CallOutcome } from '../../../helpers/rpc-fuzzer.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { treeSnapshot } from '../../../helpers/tree-snapshot.js';
import { until } from '../../../helpers/wait.js';

/** Generated inputs per RPC (plus RAW_RUNS undecodable-or-random byte strings). */
const RUNS = Number(process.env['VONODE_FUZZ_RUNS'] ?? 100);
const RAW_RUNS = Math.ceil(RUNS / 4);
/** The caller each RPC is fuzzed as: the role that gets past authorization into the handler. */
const CALLER: Record<string, string> = { RegisterAgent: 'phys-fuzz', Heartbeat: 'phys-fuzz', ReportVisibility: 'gridway' };
/** A valid request per RPC that takes one, for the near-valid mutations. */
const VALID: Record<string, Record<string, unknown>> = {
  RegisterAgent: { hostName: 'phys-fuzz', address: '127.0.0.1:1', facts: { hostname: 'phys-fuzz', cpus: 4, memoryTotalBytes: 2 ** 33, memoryAvailableBytes: 2 ** 32 }, domains: [] },
  Heartbeat: { hostName: 'phys-fuzz', facts: { hostname: 'phys-fuzz', cpus: 4, memoryTotalBytes: 2 ** 33, memoryAvailableBytes: 2 ** 32 } },
  DeployNodes: { vo: 'bio', count: 1 },
  DrainNode: { hostname: 'vwn-001' },
  RemoveNode: { hostname: 'vwn-001' },
  ListNodes: { vo: 'bio' },
  Timings: { limit: 5 },
  ApplyPolicy: { yaml: 'vos:\n  bio: { weight: 2, max: 4, queue: bio.q, appliance: { disk: { url: "file:///x", sha256: "' + 'a'.repeat(64) + '" } } }\n' },
  ReportVisibility: { phase: 7, hostnames: ['vwn-001'], reporter: 'fuzz' },
};
/** Streams that never end by themselves are followed this long (ms) before the client stops listening. */
const STREAM_MS: Record<string, number> = { WatchEvents: 50 };
/** Agent calls claim a host: mostly the certificate's own, so the fuzz reaches the handler, not just the identity check. */
const own = (m: Record<string, unknown>, name: string): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof({ weight: 4, arbitrary: fc.constant({ ...m, hostName: name }) }, { weight: 1, arbitrary: fc.constant(m) });
const NOT_ANSWERS = new Set<number>([status.INTERNAL, status.UNKNOWN, status.UNAVAILABLE, status.DATA_LOSS]);
/** Outcomes after which the call may have changed the site (accepted, or a stream we stopped following). */
const MAY_HAVE_ACTED = new Set<number>([status.OK, status.CANCELLED, status.DEADLINE_EXCEEDED]);

// Hostile requests at every RPC of vonode.v1.CoordinatorService over real
// gRPC with mutual TLS (a real coordinator process, real agents on the
// simulated driver): no INTERNAL/UNKNOWN, no crash, no file outside the state
// directories, and a refused request changes nothing.
describe('coordinator RPCs under generated hostile requests (real mTLS)', function () {
  this.timeout(600_000);
  const site = new TestSite({ agents: [{ name: 'phys-a' }, { name: 'phys-b' }], poolSize: 4 });
  const tally = new FuzzTally();
  const clients = new Map<string, RawRpcClient>();
  let canary = '';

  before(async () => {
    await site.start();
    // An agent certificate no running agent uses: registrations fuzzed as it cannot disturb phys-a and phys-b.
    await runChecked(new ProcessRunner(), ['bash', path.resolve('scripts/pki/make-site-pki.sh'), site.pki, '--role', 'agent', 'phys-fuzz:DNS:localhost,IP:127.0.0.1']);
    canary = path.join(site.dir, 'canary');
    await mkdir(canary);
    for (const who of ['cli', 'phys-fuzz', 'gridway']) clients.set(who, new RawRpcClient(`127.0.0.1:${site.coordinatorPort}`, channelCredentials(site.tls(who), false, 'fuzz')));
    await until('agents up', async () => ((await site.client().listHosts()).hosts.length === 2 ? true : undefined));
  });
  after(async () => {
    for (const c of clients.values()) c.close();
    await site.stop();
    console.log(tally.table('vonode.v1.CoordinatorService'));
  });

  /** What a refused request must leave as it was. */
  const fingerprint = async (): Promise<string> => {
    const c = site.client();
    try {
      const [st, policy, nodes, hosts, timings] = await Promise.all([c.status(), c.getPolicy(), c.listNodes(), c.listHosts(), c.timings()]);
      return JSON.stringify({
        pool: [st.poolTotal, st.poolFree], queue: [st.queuedOperations, st.runningOperations], policy: policy.yaml,
        nodes: nodes.nodes.map((n) => [n.hostname, n.state, n.vo, n.host]), hosts: hosts.hosts.map((h) => [h.name, h.address]).sort(),
        operations: timings.operations.length,
      });
    } finally {
      c.close();
    }
  };
  const idle = (): Promise<unknown> => until('queue idle', async () => {
    const c = site.client();
    const st = await c.status().finally(() => c.close());
    return st.queuedOperations + st.runningOperations === 0 ? true : undefined;
  }, 60_000);

  const protectedTree = (): Promise<Map<string, string>> =>
    // Everything under the site's directory except what the daemons own: their state directories and the policy they manage.
    treeSnapshot(site.dir, (rel) => rel === 'coordinator' || rel === 'policy.yaml' || site.agents.some((a) => rel === a.name));

  for (const method of serviceMethods('CoordinatorService')) {
    it(`${method.name}: no INTERNAL, no crash, a refusal changes nothing`, async () => {
      const client = clients.get(CALLER[method.name] ?? 'cli')!;
      const strings = hostileStrings({ canaryDir: canary, nearValid: ['bio', 'fusion', 'vwn-001', 'vwn-004', 'phys-a', 'phys-fuzz', '127.0.0.1:1', site.image.url, site.image.sha256] });
      const treeBefore = await protectedTree();
      let before = await fingerprint();
      const check = async (bytes: Buffer): Promise<void> => {
        const outcome: CallOutcome = await client.call(method, bytes, STREAM_MS[method.name]);
        tally.record(method.name, outcome);
        expect(NOT_ANSWERS.has(outcome.code), `${method.name} answered ${status[outcome.code]}: ${outcome.details}`).to.equal(false);
        if (MAY_HAVE_ACTED.has(outcome.code)) {
          await idle();
          before = await fingerprint();
        } else {
          expect(await fingerprint(), `${method.name} refused (${status[outcome.code]}: ${outcome.details}) yet changed the site`).to.equal(before);
        }
      };
      const valid = VALID[method.name];
      const generated = valid ? fc.oneof(messageOf(method.requestType, strings), nearValid(method.requestType, valid, strings)) : messageOf(method.requestType, strings);
      const messages = CALLER[method.name] === 'phys-fuzz' ? generated.chain((m) => own(m, 'phys-fuzz')) : generated;
      await fc.assert(fc.asyncProperty(messages, (m) => check(encode(method.requestType, m))), { numRuns: RUNS });
      await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), (b) => check(Buffer.from(b))), { numRuns: RAW_RUNS });
      expect(site.coordinatorProc?.exitCode, 'the coordinator is still running').to.equal(null);
      expect(await readdir(canary), 'nothing written where a hostile path pointed').to.deep.equal([]);
      expect(await protectedTree(), 'no file outside the state directories changed').to.deep.equal(treeBefore);
    });
  }
});
