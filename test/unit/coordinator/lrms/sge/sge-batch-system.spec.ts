import { expect } from 'chai';
import { SgeBatchSystem, type QconfFileWriter } from '../../../../../coordinator/lrms/sge/sge-batch-system.js';
import { SgeNotFoundError, SgeQmasterUnreachableError } from '../../../../../coordinator/lrms/sge/sge-errors.js';
import type { NodeRecord } from '../../../../../coordinator/store/records.js';
import type { Clock } from '../../../../../shared/clock.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../../../../shared/errors.js';
import type { CommandResult, CommandRunner, RunOptions } from '../../../../../shared/process/command-runner.js';

type Reply = Partial<CommandResult> | ((argv: string[]) => Partial<CommandResult>);

/** Answers each command by the first matching rule (argv joined by spaces starts with the key); records every call. */
class ScriptedRunner implements CommandRunner {
  readonly calls: string[] = [];
  env: NodeJS.ProcessEnv | undefined;
  constructor(private readonly rules: [string, Reply][]) {}
  async run(argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const args = argv.slice(argv.indexOf('--') + 1); // drop the test prefix
    const line = args.join(' ');
    this.calls.push(line);
    this.env = options?.env;
    const rule = this.rules.find(([key]) => line.startsWith(key));
    const reply = rule ? (typeof rule[1] === 'function' ? rule[1](args) : rule[1]) : {};
    return { code: 0, stdout: '', stderr: '', ...reply };
  }
}

/** Records the files given to qconf -A…/-M… instead of writing them. */
class RecordingFiles implements QconfFileWriter {
  readonly written: { name: string; content: string }[] = [];
  async withFile<T>(name: string, content: string, use: (file: string) => Promise<T>): Promise<T> {
    this.written.push({ name, content });
    return use(`/tmp/fake/${name}`);
  }
}

const fastClock: Clock = {
  monotonicMs: (() => {
    let t = 0;
    return () => (t += 10);
  })(),
  nowMs: () => 0,
  sleep: async (_ms, signal) => {
    signal?.throwIfAborted();
    await new Promise((r) => setImmediate(r));
  },
};

const notFound = (stderr: string): Partial<CommandResult> => ({ code: 1, stderr });
const instanceXml = (name: string, state: string, load: boolean, jobs = 0): string =>
  `<job_info><queue_info><Queue-List><name>${name}</name><slots_used>${jobs}</slots_used><slots_total>1</slots_total>` +
  (load ? '<load_avg>0.1</load_avg>' : '') +
  (state ? `<state>${state}</state>` : '') +
  Array.from({ length: jobs }, (_, i) => `<job_list state="running"><JB_job_number>${i + 7}</JB_job_number><state>r</state><slots>1</slots></job_list>`).join('') +
  '</Queue-List></queue_info><job_info></job_info></job_info>';

function node(overrides: Partial<NodeRecord> = {}): NodeRecord {
  return { hostname: 'vwn-bio-001', ip: '10.9.0.11', mac: '52:54:00:00:00:01', vo: 'bio', host: 'h1', state: 'running', operationId: 'op', sinceMs: 0, error: '', ...overrides };
}

function system(runner: ScriptedRunner, files = new RecordingFiles()): SgeBatchSystem {
  return new SgeBatchSystem({
    placeholderHost: 'sge-master',
    sgeRoot: '/srv/sge',
    sgeCell: 'site',
    env: { PATH: '/usr/bin' },
    commandPrefix: ['prefix', '--'],
    runner,
    clock: fastClock,
    files,
  });
}

describe('coordinator/lrms/sge/SgeBatchSystem (scripted commands)', () => {
  const never = new AbortController().signal;

  it('refuses bad options, naming them', () => {
    const runner = new ScriptedRunner([]);
    expect(() => new SgeBatchSystem({ placeholderHost: 'a b', runner })).to.throw(InvalidArgumentError, /placeholderHost/);
    expect(() => new SgeBatchSystem({ placeholderHost: 'm', runner, pollIntervalMs: 0 })).to.throw(InvalidArgumentError, /pollIntervalMs/);
    expect(() => new SgeBatchSystem({ placeholderHost: 'm', runner, binDir: 'usr/lib' })).to.throw(InvalidArgumentError, /binDir/);
  });

  const badNodes: [string, Partial<NodeRecord>, string, number, RegExp][] = [
    ['hostname with a newline', { hostname: 'vwn\nhostlist x' }, 'bio.q', 1, /node.hostname/],
    ['VO with a space', { vo: 'bio x' }, 'bio.q', 1, /node.vo/],
    ['queue with @', {}, 'bio.q@h', 1, /queue/],
    ['zero slots', {}, 'bio.q', 0, /slots/],
    ['more slots than gids', {}, 'bio.q', 101, /slots/],
    ['bad IP', { ip: '10.9.0' }, 'bio.q', 1, /ip/],
  ];
  for (const [what, overrides, queue, slots, message] of badNodes) {
    it(`register refuses a ${what} before running any command`, async () => {
      const runner = new ScriptedRunner([]);
      const err = await system(runner).register({ node: node(overrides), queue, slots }, never).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(InvalidArgumentError).with.property('message').that.matches(message);
      expect(runner.calls).to.deep.equal([]);
    });
  }

  it('register adds host, own gid_range, host group membership and slots, then waits for the instance to take jobs', async () => {
    let polls = 0;
    const runner = new ScriptedRunner([
      ['qstat -f -xml', () => (++polls === 1 ? notFound('') : { stdout: instanceXml('bio.q@vwn-bio-001', polls === 2 ? 'u' : '', polls > 3) })],
    ]);
    const files = new RecordingFiles();
    await system(runner, files).register({ node: node(), queue: 'bio.q', slots: 2 }, never);
    expect(runner.calls.slice(0, 4)).to.deep.equal([
      'qconf -Ae /tmp/fake/exechost',
      'qconf -Aconf /tmp/fake/vwn-bio-001',
      'qconf -aattr hostgroup hostlist vwn-bio-001 @bio',
      'qconf -mattr queue slots [vwn-bio-001=2] bio.q',
    ]);
    expect(runner.calls.slice(4)).to.deep.equal(Array(4).fill("qstat -f -xml -u * -q bio.q@vwn-bio-001"));
    expect(files.written[1]).to.deep.equal({ name: 'vwn-bio-001', content: 'gid_range 21100-21199\n' });
    expect(runner.env).to.include({ SGE_ROOT: '/srv/sge', SGE_CELL: 'site', PATH: '/usr/bin' });
  });

  it('register on a host SGE already knows replaces its configuration and goes on', async () => {
    const runner = new ScriptedRunner([
      ['qconf -Ae', { code: 1, stderr: 'exechost "vwn-bio-001" already exists\n' }],
      ['qconf -Aconf', { code: 1, stderr: 'configuration vwn-bio-001 already exists\n' }],
      ['qstat', { stdout: instanceXml('bio.q@vwn-bio-001', '', true) }],
    ]);
    await system(runner).register({ node: node(), queue: 'bio.q', slots: 1 }, never);
    expect(runner.calls).to.include('qconf -Mconf /tmp/fake/vwn-bio-001');
  });

  it('register stops waiting when aborted', async () => {
    const runner = new ScriptedRunner([['qstat', { stdout: instanceXml('bio.q@vwn-bio-001', 'u', false) }]]);
    const abort = new AbortController();
    const pending = system(runner).register({ node: node(), queue: 'bio.q', slots: 1 }, abort.signal);
    await new Promise((r) => setTimeout(r, 20));
    abort.abort(new Error('SR timeout'));
    const err = await pending.catch((e: unknown) => e);
    expect(err).to.have.property('message', 'SR timeout');
  });

  it('register fails with the classified error when the qmaster is down', async () => {
    const runner = new ScriptedRunner([['qconf -Ae', { code: 1, stderr: 'error: commlib error: got select error (Connection refused)\n' }]]);
    const err = await system(runner).register({ node: node(), queue: 'bio.q', slots: 1 }, never).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SgeQmasterUnreachableError);
  });

  it('drain disables the host, waits while its jobs run, then removes every trace of it', async () => {
    let polls = 0;
    const runner = new ScriptedRunner([
      ['qstat -f -xml', () => ({ stdout: instanceXml('bio.q@vwn-bio-001', 'd', true, ++polls <= 3 ? 1 : 0) })],
      ['qconf -shgrpl', { stdout: '@bio\n@fusion\n' }],
      ['qconf -shgrp @bio', { stdout: 'group_name @bio\nhostlist vwn-bio-001 vwn-bio-002\n' }],
      ['qconf -shgrp @fusion', { stdout: 'group_name @fusion\nhostlist NONE\n' }],
    ]);
    await system(runner).drain(node(), never);
    expect(runner.calls[0]).to.equal('qmod -d *@vwn-bio-001');
    expect(runner.calls.filter((c) => c.startsWith('qstat'))).to.have.length(5); // 3 busy, 1 idle, 1 in deregister
    expect(runner.calls.filter((c) => !c.startsWith('qstat') && !c.startsWith('qmod'))).to.deep.equal([
      'qconf -purge queue slots bio.q@vwn-bio-001',
      'qconf -shgrpl',
      'qconf -shgrp @bio',
      'qconf -shgrp @fusion',
      'qconf -dattr hostgroup hostlist vwn-bio-001 @bio',
      'qconf -ke vwn-bio-001',
      'qconf -de vwn-bio-001',
      'qconf -dconf vwn-bio-001',
    ]);
  });

  it('deregister of a host SGE does not know succeeds (idempotent)', async () => {
    const runner = new ScriptedRunner([
      ['qstat', notFound('')],
      ['qconf -shgrpl', notFound('no host group list defined\n')],
      ['qconf -ke', notFound('"vwn-bio-001" is not an execution host\n')],
      ['qconf -de', notFound('denied: execution host "vwn-bio-001" does not exist\n')],
    ]);
    await system(runner).deregister('vwn-bio-001');
    expect(runner.calls).to.include('qconf -dconf vwn-bio-001');
  });

  it('deregister refuses a reachable host that still runs jobs, and touches nothing', async () => {
    const runner = new ScriptedRunner([['qstat', { stdout: instanceXml('bio.q@vwn-bio-001', 'd', true, 1) }]]);
    const err = await system(runner).deregister('vwn-bio-001').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(FailedPreconditionError).with.property('message').that.matches(/still runs job\(s\) 7: drain it/);
    expect(runner.calls.filter((c) => c.startsWith('qconf'))).to.deep.equal([]);
  });

  it('deregister reschedules the jobs of a vanished (unreachable) host first', async () => {
    let rescheduled = false;
    const runner = new ScriptedRunner([
      ['qmod -f -rq', () => ((rescheduled = true), {})],
      ['qstat', () => ({ stdout: instanceXml('bio.q@vwn-bio-001', 'au', false, rescheduled ? 0 : 1) })],
      ['qconf -shgrpl', { stdout: '' }],
    ]);
    await system(runner).deregister('vwn-bio-001');
    expect(runner.calls).to.include('qmod -f -rq *@vwn-bio-001');
    expect(runner.calls).to.include('qconf -de vwn-bio-001');
  });

  it('deregister does not hide a qmaster that cannot be reached', async () => {
    const runner = new ScriptedRunner([
      ['qstat', notFound('')],
      ['qconf -ke', { code: 1, stderr: 'unable to send message to qmaster using port 6444 on host "m": got send error\n' }],
    ]);
    expect(await system(runner).deregister('vwn-bio-001').catch((e: unknown) => e)).to.be.instanceOf(SgeQmasterUnreachableError);
  });

  it('ensureVoQueue creates a missing host group and queue, and disables the placeholder', async () => {
    const runner = new ScriptedRunner([
      ['qconf -shgrp', notFound('Host group "@bio" does not exist\n')],
      ['qconf -sq', notFound('No cluster queue or queue instance matches the phrase "bio.q"\n')],
    ]);
    const files = new RecordingFiles();
    await system(runner, files).ensureVoQueue('bio.q', '@bio');
    expect(runner.calls).to.deep.equal(['qconf -shgrp @bio', 'qconf -Ahgrp /tmp/fake/hostgroup', 'qconf -sq bio.q', 'qconf -Aq /tmp/fake/queue', 'qmod -d bio.q@sge-master']);
    expect(files.written[1]!.content).to.match(/^hostlist\s+@bio sge-master$/m).and.match(/^slots\s+1,\[sge-master=0\]$/m);
  });

  it('ensureVoQueue adds a missing placeholder to an existing queue', async () => {
    const runner = new ScriptedRunner([['qconf -sq', { stdout: 'qname bio.q\nhostlist @bio\nslots 1\n' }]]);
    await system(runner).ensureVoQueue('bio.q', '@bio');
    expect(runner.calls).to.deep.equal([
      'qconf -shgrp @bio',
      'qconf -sq bio.q',
      'qconf -aattr queue hostlist sge-master bio.q',
      'qconf -mattr queue slots [sge-master=0] bio.q',
      'qmod -d bio.q@sge-master',
    ]);
  });

  it('treats "error:" from qconf as a failure even when it exits 0', async () => {
    const runner = new ScriptedRunner([
      ['qconf -shgrp', notFound('Host group "@bio" does not exist\n')],
      ['qconf -Ahgrp', { code: 0, stderr: 'error: error opening file "/tmp/fake/hostgroup" for reading: Success\n' }],
    ]);
    const err = await system(runner).ensureVoQueue('bio.q', '@bio').catch((e: unknown) => e);
    expect(err).to.have.property('message').that.matches(/qconf -Ahgrp failed \(exit 0\)/);
  });

  it('hosts() leaves the placeholders out and maps states', async () => {
    const xml = `<job_info><queue_info>${[
      ['bio.q@vwn-bio-001', '', '<load_avg>0.1</load_avg>'],
      ['bio.q@vwn-bio-002', 'au', ''],
      ['bio.q@sge-master', 'du', ''],
    ]
      .map(([n, st, load]) => `<Queue-List><name>${n}</name><slots_used>0</slots_used><slots_total>1</slots_total>${load}${st ? `<state>${st}</state>` : ''}</Queue-List>`)
      .join('')}</queue_info></job_info>`;
    const hosts = await system(new ScriptedRunner([['qstat', { stdout: xml }]])).hosts();
    expect(hosts).to.deep.equal([
      { hostname: 'vwn-bio-001', queue: 'bio.q', state: 'available', runningJobs: 0 },
      { hostname: 'vwn-bio-002', queue: 'bio.q', state: 'unreachable', runningJobs: 0 },
    ]);
  });

  it('demand() refuses a bad queue name and reads one qstat snapshot', async () => {
    const runner = new ScriptedRunner([['qstat', { stdout: '<job_info><queue_info/><job_info/></job_info>' }]]);
    expect(await system(runner).demand(['bio.q x']).catch((e: unknown) => e)).to.be.instanceOf(InvalidArgumentError);
    expect([...(await system(runner).demand(['bio.q'])).values()]).to.deep.equal([{ queue: 'bio.q', pending: 0, running: 0 }]);
    expect(runner.calls).to.deep.equal(['qstat -xml -u * -r']);
  });

  it('names not-found failures of other commands precisely', async () => {
    const runner = new ScriptedRunner([['qconf -mattr', { code: 1, stderr: 'No cluster queue or queue instance matches the phrase "nosuch.q"\n' }], ['qstat', notFound('')]]);
    const err = await system(runner).register({ node: node(), queue: 'nosuch.q', slots: 1 }, never).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SgeNotFoundError);
  });
});
