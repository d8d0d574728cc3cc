import { expect } from 'chai';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { describeScalingScenario } from '../../../helpers/scaling-scenario.js';

// The scaling scenario (test/helpers/scaling-scenario.ts) with a real Slurm
// 22.05 controller: nodes are dynamic (`scontrol create`, Feature per VO, a
// partition per VO over a NodeSet) and each node's `slurmd -Z` starts in a
// namespace named after it when its simulated guest boots (scripts/testbed/slurm.sh).

const SCRIPT = path.resolve(import.meta.dirname, '../../../../scripts/testbed/slurm.sh');
const runner = new ProcessRunner();
let dir = '';
const testbed = (...args: string[]): Promise<string> => runChecked(runner, ['bash', SCRIPT, ...args], { timeoutMs: 300_000 }).then((r) => r.stdout.trim());
const onCtl = (...argv: string[]): Promise<string> => testbed('exec', dir, ...argv);

describeScalingScenario({
  label: 'Slurm (coordinator, agents, slurmctld, slurmd -Z)',
  queues: { bio: 'bio', fusion: 'fusion' },
  async setUp(names) {
    await testbed('install');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-slurm-scale-'));
    const started = await testbed('start', dir);
    const value = (key: string): string => {
      const v = new RegExp(`^${key}=(.+)$`, 'm').exec(started)?.[1];
      if (!v) throw new Error(`slurm.sh start printed no ${key}: ${started}`);
      return v;
    };
    // Slurm reaches a dynamic node at the address it was created with (the lease's): the pool uses the cluster's addresses.
    const poolAddresses: Array<{ hostname: string; ip: string }> = [];
    for (const hostname of names) {
      const ip = /ip=(\S+)/.exec(await testbed('add-host', dir, hostname))?.[1];
      if (!ip) throw new Error(`slurm.sh add-host printed no ip for ${hostname}`);
      poolAddresses.push({ hostname, ip });
    }
    await writeFile(path.join(dir, 'jobs', 'job.sh'), '#!/bin/sh\necho "start host=$(hostname) queue=$SLURM_JOB_PARTITION"\nsleep "$1"\necho "end ok"\n');
    await chmod(path.join(dir, 'jobs', 'job.sh'), 0o755);
    return {
      batchSystem: { kind: 'slurm', slurm: { conf: value('slurm_conf'), commandPrefix: ['nsenter', `--net=${value('netns')}`] } },
      guest: { guestCommand: ['bash', SCRIPT, 'start-slurmd', dir, '{hostname}'], haltCommand: ['bash', SCRIPT, 'stop-slurmd', dir, '{hostname}'] },
      poolAddresses,
    };
  },
  submitHeld: (queue, seconds) =>
    onCtl('sbatch', '--parsable', '--hold', '-p', queue, '-D', path.join(dir, 'jobs'), '-o', path.join(dir, 'jobs', 'job-%j.out'), path.join(dir, 'jobs', 'job.sh'), String(seconds)),
  release: async (ids) => {
    // scontrol releases them but exits 1 with "partition configuration not available now" (no node yet): expected.
    const released = await runner.run(['bash', SCRIPT, 'exec', dir, 'scontrol', 'release', ids.join(',')]);
    expect(released.stderr.split('\n').filter((l) => l && !/partition configuration not available now/.test(l)), released.stderr).to.deep.equal([]);
  },
  jobOutput: (id) => readFile(path.join(dir, 'jobs', `job-${id}.out`), 'utf8').catch(() => ''),
  knownNodes: async () => (await onCtl('scontrol', '--future', '--oneliner', 'show', 'node').catch(() => '')).split('\n').filter((l) => /NodeName=vwn-/.test(l)),
  tearDown: async () => {
    if (dir) await testbed('stop', dir);
  },
});
