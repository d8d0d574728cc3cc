import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { AgentClient } from '../../../../shared/rpc/agent-client.js';
import { channelCredentials } from '../../../../shared/rpc/credentials.js';
import { encode, hostileStrings, messageOf, nearValid } from '../../../helpers/hostile-input.js';
import { FuzzTally, RawRpcClient, serviceMethods, type CallOutcome } from '../../../helpers/rpc-fuzzer.js';
import { TestSite } from '../../../helpers/site-harness.js';
import { treeSnapshot } from '../../../helpers/tree-snapshot.js';

/** Generated inputs per RPC (plus RAW_RUNS random byte strings). */
const RUNS = Number(process.env['VONODE_FUZZ_RUNS'] ?? 100);
const RAW_RUNS = Math.ceil(RUNS / 4);
const NOT_ANSWERS = new Set<number>([status.INTERNAL, status.UNKNOWN, status.UNAVAILABLE, status.DATA_LOSS]);
const MAY_HAVE_ACTED = new Set<number>([status.OK, status.CANCELLED, status.DEADLINE_EXCEEDED]);
const DIGEST = /[0-9a-f]{64}/gi;

// Hostile requests at every RPC of vonode.v1.AgentService, over real gRPC
// with mutual TLS as the coordinator (the only caller that reaches the
// handlers): no INTERNAL/UNKNOWN, no crash, no file outside the agent's state
// directory, no digest of anything it was not asked for in an error, and a
// refused request changes nothing on the host.
describe('agent RPCs under generated hostile requests (real mTLS)', function () {
  this.timeout(600_000);
  const site = new TestSite({ agents: [{ name: 'phys-a' }], poolSize: 2 });
  const tally = new FuzzTally();
  let raw: RawRpcClient;
  let agent: AgentClient;
  let canary = '';

  before(async () => {
    await site.start();
    canary = path.join(site.dir, 'canary');
    await mkdir(canary);
    const address = `127.0.0.1:${site.agents[0]!.port}`;
    raw = new RawRpcClient(address, channelCredentials(site.tls('coordinator'), false, 'fuzz'));
    agent = new AgentClient(address, channelCredentials(site.tls('coordinator'), false, 'fuzz'));
    await agent.waitReady(20_000);
  });
  after(async () => {
    raw?.close();
    agent?.close();
    await site.stop();
    console.log(tally.table('vonode.v1.AgentService'));
  });

  /** A valid request per RPC that takes one, for the near-valid mutations. */
  const validRequests = (): Record<string, Record<string, unknown>> => {
    const image = { url: site.image.url, sha256: site.image.sha256 };
    return {
      Deploy: { operationId: 'fuzz-op', vm: { hostname: 'vwn-099', ip: '10.77.0.99', mac: '52:54:00:77:00:99', vo: 'bio', vcpus: 1, memoryMb: 64, disk: image } },
      Remove: { hostname: 'vwn-099', shutdownTimeoutS: 1 },
      PrefetchImage: { image },
      EvictImage: { sha256: site.image.sha256 },
    };
  };

  /** The host's state a refused request must leave as it was: domains, DHCP reservations, cached images. */
  const fingerprint = async (): Promise<string> => {
    const [domains, images, dhcp] = await Promise.all([agent.listDomains(), agent.listImages(), site.dhcpFiles(site.agents[0]!)]);
    return JSON.stringify({ domains: domains.domains.map((d) => [d.name, d.state]).sort(), images: images.images.map((i) => i.sha256).sort(), dhcp: dhcp.sort() });
  };
  // Everything under the site's directory except the agent's state directory and the coordinator's.
  const protectedTree = (): Promise<Map<string, string>> => treeSnapshot(site.dir, (rel) => rel === 'phys-a' || rel === 'coordinator');

  for (const method of serviceMethods('AgentService')) {
    it(`${method.name}: no INTERNAL, no crash, no leak, a refusal changes nothing`, async () => {
      const near = ['vwn-099', '10.77.0.99', '52:54:00:77:00:99', 'bio', site.image.url, site.image.sha256, `file://${site.dir}/policy.yaml`, 'http://127.0.0.1:1/x.img'];
      const strings = hostileStrings({ canaryDir: canary, nearValid: near });
      const treeBefore = await protectedTree();
      let before = await fingerprint();
      const check = async (bytes: Buffer): Promise<void> => {
        const outcome: CallOutcome = await raw.call(method, bytes, 3000);
        tally.record(method.name, outcome);
        expect(NOT_ANSWERS.has(outcome.code), `${method.name} answered ${status[outcome.code]}: ${outcome.details}`).to.equal(false);
        const asked = bytes.toString('latin1').toLowerCase();
        for (const digest of outcome.details.match(DIGEST) ?? []) expect(asked, `${method.name} error names digest ${digest} it was not given: ${outcome.details}`).to.include(digest.toLowerCase());
        if (MAY_HAVE_ACTED.has(outcome.code)) before = await fingerprint();
        else expect(await fingerprint(), `${method.name} refused (${status[outcome.code]}: ${outcome.details}) yet changed the host`).to.equal(before);
      };
      const valid = validRequests()[method.name];
      const messages = valid ? fc.oneof(messageOf(method.requestType, strings), nearValid(method.requestType, valid, strings)) : messageOf(method.requestType, strings);
      await fc.assert(fc.asyncProperty(messages, (m) => check(encode(method.requestType, m))), { numRuns: RUNS });
      await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), (b) => check(Buffer.from(b))), { numRuns: RAW_RUNS });
      expect(site.agents[0]!.proc?.exitCode, 'the agent is still running').to.equal(null);
      expect(await readdir(canary), 'nothing written where a hostile path pointed').to.deep.equal([]);
      expect(await protectedTree(), 'no file outside the state directories changed').to.deep.equal(treeBefore);
    });
  }
});
