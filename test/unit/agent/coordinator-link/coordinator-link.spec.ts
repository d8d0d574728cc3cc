import { expect } from 'chai';
import { credentials } from '@grpc/grpc-js';
import { pino } from 'pino';
import { COORDINATOR_CHANNEL_OPTIONS, CoordinatorLink } from '../../../../agent/coordinator-link/coordinator-link.js';
import type { HostFactsResponse } from '../../../../shared/gen/vonode/v1/agent.js';
import { systemClock } from '../../../../shared/clock.js';
import { CoordinatorClient } from '../../../../shared/rpc/coordinator-client.js';
import { FollowingCoordinatorClient } from '../../../../shared/rpc/following-coordinator-client.js';
import { CannedCoordinatorDouble } from '../../../helpers/coordinator-double.js';
import { RecordingCoordinatorDouble } from '../../../helpers/recording-coordinator-double.js';

interface LogLine {
  level: number;
  msg: string;
}

const WARN = 40;

// The link against a real grpc-js server (a recording test double of the
// coordinator) on 127.0.0.1, with a 50 ms heartbeat interval and fast backoff.
describe('agent/coordinator-link', () => {
  let double: RecordingCoordinatorDouble;
  let client: CoordinatorClient;
  let link: CoordinatorLink;
  let logs: LogLine[];
  let factsCalls: number;

  const facts = async (): Promise<HostFactsResponse> => ({
    hostname: 'phys-7', cpus: 2, memoryTotalBytes: 8e9, memoryAvailableBytes: 6e9, memoryCommittedBytes: 0, diskTotalBytes: 1e11, diskFreeBytes: 5e10,
    hypervisor: 'simulated', cachedImages: [], runningDomains: ++factsCalls, agentVersion: 'test', peerUrl: '', holdings: [], uploadPeers: 0, linkMbit: 0,
  });

  const makeLink = (port: number): CoordinatorLink => {
    client = new CoordinatorClient(`127.0.0.1:${port}`, credentials.createInsecure(), COORDINATOR_CHANNEL_OPTIONS);
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
    link = new CoordinatorLink({
      client, logger, clock: systemClock, hostName: 'phys-7', advertiseAddress: '127.0.0.1:7070',
      facts, domains: async () => [], retryBackoffMs: { initial: 20, max: 100 }, callTimeoutMs: 2000,
    });
    return link;
  };

  beforeEach(() => {
    double = new RecordingCoordinatorDouble();
    logs = [];
    factsCalls = 0;
  });
  afterEach(async () => {
    await link?.shutdown();
    client?.close();
    await double.stop();
  });

  it('registers with its name, advertised address and facts, then heartbeats fresh facts at the interval', async () => {
    makeLink(await double.start()).start();
    await double.waitFor('6 heartbeats', () => double.heartbeats.length >= 6);
    expect(link.state).to.equal('registered');
    expect(link.heartbeatIntervalMs).to.equal(50);
    expect(link.site).to.equal('double-site');
    expect(double.registrations).to.have.length(1);
    const reg = double.registrations[0]!.request;
    expect(reg).to.include({ hostName: 'phys-7', address: '127.0.0.1:7070' });
    expect(reg.facts?.hypervisor).to.equal('simulated');
    expect(reg.domains).to.deep.equal([]);
    const beats = double.heartbeats.slice(0, 6);
    // Fresh facts every time: the fake counts its calls in runningDomains.
    const counts = beats.map((b) => b.request.facts?.runningDomains ?? 0);
    expect(new Set(counts).size).to.equal(6);
    // Start-to-start rhythm: 5 gaps of 50 ms; loose upper bound for a busy 2-core machine.
    const span = beats[5]!.atMs - beats[0]!.atMs;
    expect(span).to.be.within(5 * 50 * 0.8, 5 * 50 * 4);
    expect(beats[0]!.atMs - double.registrations[0]!.atMs).to.be.at.least(40);
  });

  it('registers again when a heartbeat answer says reregister, and keeps heartbeating', async () => {
    makeLink(await double.start()).start();
    await double.waitFor('a heartbeat', () => double.heartbeats.length >= 1);
    double.reregisterNext = true;
    await double.waitFor('a second registration', () => double.registrations.length === 2);
    const after = double.heartbeats.length;
    await double.waitFor('heartbeats after it', () => double.heartbeats.length >= after + 2);
    expect(link.registrations).to.equal(2);
    expect(link.state).to.equal('registered');
  });

  it('registers again when the coordinator answers a heartbeat with NOT_FOUND', async () => {
    makeLink(await double.start()).start();
    await double.waitFor('a heartbeat', () => double.heartbeats.length >= 1);
    double.forget();
    await double.waitFor('a second registration', () => double.registrations.length === 2);
    expect(logs.some((l) => /NOT_FOUND/.test(l.msg))).to.equal(true);
    expect(logs.filter((l) => l.level >= WARN)).to.deep.equal([]);
  });

  it('keeps trying while the coordinator is down at start, logging that once, and registers when it comes up', async () => {
    const port = await double.start();
    await double.stop();
    makeLink(port).start();
    await systemClock.sleep(600); // several retries (backoff 20 → 100 ms)
    expect(link.state).to.equal('registering');
    expect(double.registrations).to.have.length(0);
    const warnings = logs.filter((l) => l.level >= WARN);
    expect(warnings, JSON.stringify(warnings)).to.have.length(1);
    expect(warnings[0]!.msg).to.match(/RegisterAgent failed; retrying/);
    expect(logs.filter((l) => /RegisterAgent failed again/.test(l.msg)).length).to.be.at.least(2);

    await double.start(port);
    await double.waitFor('a registration', () => double.registrations.length === 1, 10_000);
    await double.waitFor('heartbeats', () => double.heartbeats.length >= 2);
    expect(link.state).to.equal('registered');
    expect(logs.some((l) => l.msg === 'the coordinator answers again')).to.equal(true);
  });

  it('heartbeats through an outage and registers again with the restarted coordinator', async () => {
    const port = await double.start();
    makeLink(port).start();
    await double.waitFor('a heartbeat', () => double.heartbeats.length >= 1);
    await double.stop();
    await systemClock.sleep(400); // ~8 failed heartbeats
    expect(link.state).to.equal('registered');
    expect(logs.filter((l) => l.level >= WARN && /Heartbeat failed/.test(l.msg))).to.have.length(1);
    await double.start(port); // a restart: it has forgotten the agent
    await double.waitFor('a second registration', () => double.registrations.length === 2, 10_000);
    // The double counts the request on arrival; the link is registered once it has read the answer.
    await double.waitFor('the link to read the answer', () => link.state === 'registered', 5_000);
    expect(link.state).to.equal('registered');
  });

  it('with several coordinators registers with the leader a standby names, passes on every answer\'s term, and follows a failover', async () => {
    const leader = new CannedCoordinatorDouble();
    const standby = new CannedCoordinatorDouble();
    leader.agentTerm = 57;
    standby.agentTerm = 57;
    await leader.start();
    await standby.start();
    standby.standbyOf = leader.address;
    const terms: number[] = [];
    const following = new FollowingCoordinatorClient([standby.address, leader.address], credentials.createInsecure(), { channelOptions: COORDINATOR_CHANNEL_OPTIONS });
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
    link = new CoordinatorLink({
      client: following, logger, clock: systemClock, hostName: 'phys-7', advertiseAddress: '127.0.0.1:7070',
      facts, domains: async () => [], retryBackoffMs: { initial: 20, max: 100 }, callTimeoutMs: 2000,
      onCoordinatorTerm: (term) => void terms.push(term),
    });
    try {
      link.start();
      await double.waitFor('two heartbeats at the leader', () => leader.calls.filter((c) => c.method === 'Heartbeat').length >= 2);
      // The doubles count a call on arrival; a term is passed on once the link has read the answer.
      await double.waitFor('three answers read', () => terms.length >= 3, 5_000);
      expect(standby.calls.map((c) => c.method)).to.deep.equal(['RegisterAgent']);
      expect(leader.calls[0]!.method).to.equal('RegisterAgent');
      expect(link.registrations).to.equal(1);
      expect(terms.slice(0, 3)).to.deep.equal([57, 57, 57]);
      // The leader dies; the standby is elected with a newer term.
      await leader.stop();
      standby.standbyOf = undefined;
      standby.agentTerm = 58;
      await double.waitFor('term 58', () => terms.includes(58));
      expect(following.address).to.equal(standby.address);
      expect(link.state).to.equal('registered');
    } finally {
      await link.shutdown();
      following.close();
      await leader.stop();
      await standby.stop();
    }
  });

  it('stops calling the coordinator on shutdown', async () => {
    makeLink(await double.start()).start();
    await double.waitFor('a heartbeat', () => double.heartbeats.length >= 1);
    await link.shutdown();
    expect(link.state).to.equal('stopped');
    const seen = double.heartbeats.length;
    await systemClock.sleep(200);
    expect(double.heartbeats.length).to.equal(seen);
  });
});
