import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SlurmBatchSystem } from '../../../../../coordinator/lrms/slurm/slurm-batch-system.js';
import { SlurmControllerUnreachableError, SlurmNodeBusyError, SlurmNodeConflictError, SlurmPartitionError } from '../../../../../coordinator/lrms/slurm/slurm-errors.js';
import type { NodeRecord } from '../../../../../coordinator/store/records.js';
import type { Clock } from '../../../../../shared/clock.js';
import { InvalidArgumentError } from '../../../../../shared/errors.js';
import type { CommandResult, CommandRunner, RunOptions } from '../../../../../shared/process/command-runner.js';

// A scripted slurmctld: just enough state for the adapter's decisions. The
// real daemons are exercised by test/integration/coordinator/lrms/slurm-batch-system.spec.ts;
// the messages below are the ones Slurm 22.05.8 prints (test/fixtures/slurm).
interface FakeNode {
  state: string;
  flags: string[];
  partitions: string[];
  features: string[];
  reason?: string;
}

class FakeSlurm implements CommandRunner {
  readonly calls: string[] = [];
  readonly envs: NodeJS.ProcessEnv[] = [];
  nodes = new Map<string, FakeNode>();
  /** node → number of jobs running on it */
  running = new Map<string, number>();
  /** partition each new node of a feature lands in (the NodeSets) */
  nodeSets = new Map<string, string>([['bio', 'bio'], ['fusion', 'fusion']]);
  /** what happens after each command, e.g. slurmd registering */
  after: (line: string) => void = () => undefined;
  createSilentlyFails = false;
  controllerDown = false;

  async run(argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const args = argv[0] === 'nsenter' ? argv.slice(2) : argv;
    const line = args.join(' ');
    this.calls.push(line);
    this.envs.push(options?.env ?? {});
    const result = this.answer(args);
    this.after(line);
    return result;
  }

  private answer(args: readonly string[]): CommandResult {
    const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
    const fail = (stderr: string, stdout = ''): CommandResult => ({ code: 1, stdout, stderr });
    if (this.controllerDown) return fail('slurm_load_node error: Unable to contact slurm controller (connect failure)\n');
    const kv = new Map(args.filter((a) => a.includes('=')).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
    const name = kv.get('NodeName') ?? '';
    const [cmd, sub] = [args[0], args.find((a, i) => i > 0 && !a.startsWith('-'))];
    if (cmd === 'squeue') {
      const jobs = [...this.running].flatMap(([node, n]) =>
        Array.from({ length: n }, (_, i) => ({ job_id: i + 1, job_state: 'RUNNING', partition: this.nodes.get(node)?.partitions[0] ?? 'bio', job_resources: { allocated_nodes: [{ nodename: node }] } })),
      );
      return ok(JSON.stringify({ errors: [], jobs }));
    }
    if (cmd === 'sinfo') {
      const nodes = [...this.nodes].filter(([, n]) => n.state !== 'future').map(([n, v]) => ({ name: n, state: v.state, state_flags: v.flags, partitions: v.partitions, active_features: v.features.join(','), reason: v.reason ?? '' }));
      return ok(JSON.stringify({ errors: [], nodes }));
    }
    if (sub === 'show' && args.includes('partition')) {
      return ok(readFileSync(path.resolve(import.meta.dirname, '../../../../fixtures/slurm/scontrol-partitions.txt'), 'utf8'));
    }
    if (sub === 'show') {
      const wanted = args[args.length - 1] === 'node' ? [...this.nodes.keys()] : [args[args.length - 1]!];
      const lines = wanted.map((n) => {
        const v = this.nodes.get(n);
        if (!v) return undefined;
        const state = [v.state.toUpperCase(), ...v.flags].join('+');
        return `NodeName=${n} ActiveFeatures=${v.features.join(',') || '(null)'} State=${state} Partitions=${v.partitions.join(',')} ${v.reason ? `Reason=${v.reason}` : ''}`;
      });
      if (lines.some((l) => l === undefined)) return fail('', `Node ${wanted[0]} not found\n`);
      return ok(`${lines.join('\n')}\n`);
    }
    if (sub === 'create') {
      if (!this.createSilentlyFails && !this.nodes.has(name)) {
        const feature = kv.get('Feature') ?? '';
        const partition = this.nodeSets.get(feature);
        this.nodes.set(name, { state: 'future', flags: ['DYNAMIC_NORM'], partitions: partition ? [partition] : [], features: [feature] });
      }
      return ok(); // 22.05 exits 0 even when slurmctld refused
    }
    if (sub === 'update') {
      const node = this.nodes.get(name);
      if (!node) return fail('slurm_update error: Invalid node name specified\n');
      if (kv.get('State') === 'DRAIN') node.flags = [...new Set([...node.flags, 'DRAIN'])];
      if (kv.get('State') === 'DOWN') {
        node.state = 'down';
        this.running.delete(name); // slurmctld requeues the jobs of a DOWN node
      }
      if (kv.has('ActiveFeatures')) node.features = [kv.get('ActiveFeatures')!];
      if (kv.has('Reason')) node.reason = kv.get('Reason');
      return ok();
    }
    if (sub === 'reconfigure') {
      for (const node of this.nodes.values()) node.partitions = node.features.flatMap((f) => (this.nodeSets.has(f) ? [this.nodeSets.get(f)!] : []));
      return ok();
    }
    if (sub === 'delete') {
      if (!this.nodes.has(name)) return fail(`scontrol: error: failed to delete nodes ${name}\ndelete_node NodeName=${name}: Invalid node name specified\n`);
      if ((this.running.get(name) ?? 0) > 0 || this.nodes.get(name)!.flags.includes('COMPLETING')) {
        return fail(`scontrol: error: failed to delete nodes ${name}\ndelete_node NodeName=${name}: Requested nodes are busy\n`);
      }
      this.nodes.delete(name);
      return ok();
    }
    return fail(`unexpected command ${args.join(' ')}`);
  }
}

/** A clock whose sleeps return at once and advance time. */
function fakeClock(): Clock & { sleeps: number } {
  let now = 0;
  const clock = {
    sleeps: 0,
    monotonicMs: () => now,
    nowMs: () => now,
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      clock.sleeps++;
      now += ms;
      await Promise.resolve();
    },
  };
  return clock;
}

function node(hostname: string, vo = 'bio'): NodeRecord {
  return { hostname, ip: '10.124.0.11', mac: '52:54:00:00:00:01', vo, host: 'h1', state: 'running', operationId: 'op', sinceMs: 0, error: '' };
}

describe('coordinator/lrms/slurm/SlurmBatchSystem (scripted slurmctld)', () => {
  let slurm: FakeSlurm;
  let clock: ReturnType<typeof fakeClock>;
  let batch: SlurmBatchSystem;
  const signal = (): AbortSignal => new AbortController().signal;

  beforeEach(() => {
    slurm = new FakeSlurm();
    clock = fakeClock();
    batch = new SlurmBatchSystem({ runner: slurm, clock, env: { PATH: '/usr/bin' }, slurmConf: '/tb/slurm.conf', commandPrefix: ['nsenter', '--net=/run/netns/ctl'] });
  });

  /** slurmd -Z adopting the FUTURE node after `polls` looks. */
  const bootAfter = (name: string, polls: number, to: Partial<FakeNode> = {}): void => {
    let seen = 0;
    slurm.after = (line) => {
      if (line.includes(`show node ${name}`) && ++seen === polls) Object.assign(slurm.nodes.get(name)!, { state: 'idle', ...to });
    };
  };

  it('register creates a FUTURE node with the VO feature, the lease address and CPUs=slots, and resolves once it is idle in the partition', async () => {
    bootAfter('bio-n1', 3);
    await batch.register({ node: node('bio-n1'), queue: 'bio', slots: 2 }, signal());
    expect(slurm.calls[0]).to.equal('scontrol --future --oneliner show node bio-n1');
    expect(slurm.calls[1]).to.equal('scontrol create NodeName=bio-n1 NodeAddr=10.124.0.11 NodeHostname=bio-n1 CPUs=2 Feature=bio State=FUTURE');
    expect(slurm.calls.slice(2).every((c) => c === 'scontrol --future --oneliner show node bio-n1')).to.equal(true);
    expect(clock.sleeps).to.equal(1);
    expect(slurm.envs[0]).to.deep.equal({ PATH: '/usr/bin', SLURM_CONF: '/tb/slurm.conf' });
  });

  it('register adopts a node its slurmd already registered with the VO feature (no create)', async () => {
    slurm.nodes.set('bio-n1', { state: 'idle', flags: ['DYNAMIC_NORM'], partitions: ['bio'], features: ['bio'] });
    await batch.register({ node: node('bio-n1'), queue: 'bio', slots: 1 }, signal());
    expect(slurm.calls.filter((c) => c.includes('create'))).to.deep.equal([]);
  });

  it('register gives a node that registered itself without features the VO feature and reconfigures', async () => {
    slurm.nodes.set('bio-n1', { state: 'idle', flags: ['DYNAMIC_NORM'], partitions: [], features: [] });
    await batch.register({ node: node('bio-n1'), queue: 'bio', slots: 1 }, signal());
    expect(slurm.calls).to.include('scontrol update NodeName=bio-n1 AvailableFeatures=bio ActiveFeatures=bio');
    expect(slurm.calls).to.include('scontrol reconfigure');
  });

  const conflicts: [string, (s: FakeSlurm) => void, RegExp][] = [
    ['the node belongs to another VO', (s) => s.nodes.set('bio-n1', { state: 'idle', flags: ['DYNAMIC_NORM'], partitions: ['fusion'], features: ['fusion'] }), /known with feature\(s\) fusion, not bio/],
    ['no partition selects the VO feature', (s) => s.nodeSets.delete('bio'), /not in partition bio .*NodeSet with Feature=bio/],
    ['scontrol create exited 0 but made nothing (MaxNodeCount)', (s) => (s.createSilentlyFails = true), /MaxNodeCount/],
  ];
  for (const [what, setup, message] of conflicts) {
    it(`register fails fast when ${what}`, async () => {
      setup(slurm);
      const err = await batch.register({ node: node('bio-n1'), queue: 'bio', slots: 1 }, signal()).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlurmNodeConflictError).with.property('message').that.matches(message);
    });
  }

  it('register fails fast when slurmctld rejects the registration (INVALID_REG)', async () => {
    bootAfter('bio-n1', 3, { state: 'future', flags: ['DRAIN', 'DYNAMIC_NORM', 'INVALID_REG'], reason: 'Low socket*core*thread count, Low CPUs' });
    const err = await batch.register({ node: node('bio-n1'), queue: 'bio', slots: 4 }, signal()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SlurmNodeConflictError).with.property('message').that.contains('Low CPUs');
  });

  it('register rejects with the signal reason when aborted while waiting', async () => {
    const ac = new AbortController();
    let polls = 0;
    slurm.after = (line) => {
      if (line.endsWith('show node bio-n1') && ++polls === 5) ac.abort(new Error('SR deadline'));
    };
    const err = await batch.register({ node: node('bio-n1'), queue: 'bio', slots: 1 }, ac.signal).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error).with.property('message', 'SR deadline');
  });

  const invalid: [string, Parameters<SlurmBatchSystem['register']>[0], RegExp][] = [
    ['hostname', { node: { ...node('bio-n1'), hostname: 'Bio n1' }, queue: 'bio', slots: 1 }, /node\.hostname/],
    ['VO', { node: node('bio-n1', 'bio x'), queue: 'bio', slots: 1 }, /node\.vo/],
    ['queue', { node: node('bio-n1'), queue: 'bio Feature=x', slots: 1 }, /invalid queue/],
    ['ip', { node: { ...node('bio-n1'), ip: '10.0.0.1 State=IDLE' }, queue: 'bio', slots: 1 }, /node\.ip/],
    ['slots', { node: node('bio-n1'), queue: 'bio', slots: 0 }, /slots/],
  ];
  for (const [what, batchNode, message] of invalid) {
    it(`register refuses a bad ${what} before running anything`, async () => {
      const err = await batch.register(batchNode, signal()).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(InvalidArgumentError).with.property('message').that.matches(message);
      expect(slurm.calls).to.deep.equal([]);
    });
  }

  it('drain sets DRAIN, waits while a job runs, deletes the node once it is free', async () => {
    slurm.nodes.set('bio-n1', { state: 'allocated', flags: ['DYNAMIC_NORM'], partitions: ['bio'], features: ['bio'] });
    slurm.running.set('bio-n1', 1);
    let looks = 0;
    slurm.after = (line) => {
      if (line === 'squeue --json' && ++looks === 3) slurm.running.delete('bio-n1'); // the job ends by itself
    };
    await batch.drain(node('bio-n1'), signal());
    expect(slurm.calls[0]).to.equal('scontrol update NodeName=bio-n1 State=DRAIN Reason=vonode-drain');
    expect(slurm.calls.filter((c) => c.startsWith('scontrol delete'))).to.have.length(1);
    expect(slurm.nodes.has('bio-n1')).to.equal(false);
    expect(looks).to.equal(4);
  });

  it('drain retries the delete while slurmctld says the node is busy (a job completing)', async () => {
    slurm.nodes.set('bio-n1', { state: 'idle', flags: ['DYNAMIC_NORM', 'COMPLETING'], partitions: ['bio'], features: ['bio'] });
    let deletes = 0;
    slurm.after = (line) => {
      if (line.startsWith('scontrol delete') && ++deletes === 2) slurm.nodes.get('bio-n1')!.flags = ['DYNAMIC_NORM', 'DRAIN'];
    };
    await batch.drain(node('bio-n1'), signal());
    expect(deletes).to.equal(3);
    expect(slurm.nodes.has('bio-n1')).to.equal(false);
  });

  it('drain of a node slurmctld does not know does nothing more', async () => {
    await batch.drain(node('bio-n9'), signal());
    expect(slurm.calls).to.deep.equal(['scontrol update NodeName=bio-n9 State=DRAIN Reason=vonode-drain']);
  });

  it('drain aborted while a job runs leaves the node drained, job untouched', async () => {
    slurm.nodes.set('bio-n1', { state: 'allocated', flags: ['DYNAMIC_NORM'], partitions: ['bio'], features: ['bio'] });
    slurm.running.set('bio-n1', 1);
    const ac = new AbortController();
    slurm.after = (line) => {
      if (line === 'squeue --json') ac.abort(new Error('stop'));
    };
    await batch.drain(node('bio-n1'), ac.signal).catch(() => undefined);
    expect(slurm.nodes.get('bio-n1')!.flags).to.include('DRAIN');
    expect(slurm.running.get('bio-n1')).to.equal(1);
    expect(slurm.calls.some((c) => c.includes('delete') || c.includes('State=DOWN'))).to.equal(false);
  });

  it('deregister is idempotent', async () => {
    slurm.nodes.set('bio-n1', { state: 'idle', flags: ['DYNAMIC_NORM'], partitions: ['bio'], features: ['bio'] });
    await batch.deregister('bio-n1');
    await batch.deregister('bio-n1');
    expect(slurm.calls).to.deep.equal(['scontrol delete NodeName=bio-n1', 'scontrol delete NodeName=bio-n1']);
  });

  it('deregister of an unreachable node with jobs sets it DOWN, then deletes it', async () => {
    slurm.nodes.set('bio-n1', { state: 'allocated', flags: ['DYNAMIC_NORM', 'NOT_RESPONDING'], partitions: ['bio'], features: ['bio'] });
    slurm.running.set('bio-n1', 2);
    await batch.deregister('bio-n1');
    expect(slurm.calls).to.include('scontrol update NodeName=bio-n1 State=DOWN Reason=vonode-node-gone');
    expect(slurm.nodes.has('bio-n1')).to.equal(false);
  });

  it('deregister never kills the jobs of a node that still responds', async () => {
    slurm.nodes.set('bio-n1', { state: 'allocated', flags: ['DYNAMIC_NORM'], partitions: ['bio'], features: ['bio'] });
    slurm.running.set('bio-n1', 1);
    const err = await batch.deregister('bio-n1').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SlurmNodeBusyError).with.property('message').that.contains('drain it instead');
    expect(slurm.calls.some((c) => c.includes('State=DOWN'))).to.equal(false);
  });

  it('demand counts per partition; hosts lists dynamic nodes (FUTURE ones too) with their jobs', async () => {
    slurm.nodes.set('bio-n1', { state: 'mixed', flags: ['DYNAMIC_NORM'], partitions: ['bio'], features: ['bio'] });
    slurm.nodes.set('fus-n1', { state: 'future', flags: ['DYNAMIC_NORM'], partitions: ['fusion'], features: ['fusion'] });
    slurm.nodes.set('static', { state: 'idle', flags: [], partitions: ['bio'], features: [] });
    slurm.running.set('bio-n1', 2);
    expect([...(await batch.demand(['bio', 'fusion'])).values()]).to.deep.equal([
      { queue: 'bio', pending: 0, running: 2 },
      { queue: 'fusion', pending: 0, running: 0 },
    ]);
    expect(await batch.hosts()).to.deep.equal([
      { hostname: 'bio-n1', queue: 'bio', state: 'available', runningJobs: 2 },
      { hostname: 'fus-n1', queue: 'fusion', state: 'unreachable', runningJobs: 0 },
    ]);
  });

  it('prepare accepts a partition that exists and is UP (no node needed)', async () => {
    await batch.prepare([{ vo: 'bio', queue: 'bio' }]);
    await batch.prepare([{ vo: 'atlas', queue: 'atlas' }]); // DOWN, fed by another NodeSet: only logged
    expect(slurm.calls).to.deep.equal(['scontrol --oneliner show partition', 'scontrol --oneliner show partition']);
  });

  const unprepared: [string, string, RegExp][] = [
    ['missing from slurm.conf', 'cms', /partition cms: is not in slurm.conf; add:\n.*\nNodeSet=ns_cms Feature=cms\nPartitionName=cms Nodes=ns_cms/],
    ['INACTIVE', 'fusion', /partition fusion: is INACTIVE/],
  ];
  for (const [what, queue, message] of unprepared) {
    it(`prepare refuses a VO partition ${what}`, async () => {
      const err = await batch.prepare([{ vo: queue, queue }]).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SlurmPartitionError).with.property('message').that.matches(message);
    });
  }

  it('runs the commands from binDir when given', async () => {
    const withBin = new SlurmBatchSystem({ runner: slurm, clock, binDir: '/opt/slurm/bin' });
    await withBin.deregister('bio-n1');
    expect(slurm.calls).to.deep.equal(['/opt/slurm/bin/scontrol delete NodeName=bio-n1']);
  });

  it('a controller it cannot reach is a SlurmControllerUnreachableError', async () => {
    slurm.controllerDown = true;
    const err = await batch.deregister('bio-n1').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SlurmControllerUnreachableError);
  });

  const options: [string, ConstructorParameters<typeof SlurmBatchSystem>[0], RegExp][] = [
    ['pollIntervalMs', { pollIntervalMs: 1 }, /pollIntervalMs/],
    ['drainReason', { drainReason: 'two words' }, /drainReason/],
    ['binDir', { binDir: 'relative/bin' }, /binDir/],
    ['slurmConf', { slurmConf: '/etc/slurm/slurm.conf;x' }, /slurmConf/],
  ];
  for (const [what, opts, message] of options) {
    it(`refuses a bad ${what}`, () => {
      expect(() => new SlurmBatchSystem(opts)).to.throw(InvalidArgumentError, message);
    });
  }
});
