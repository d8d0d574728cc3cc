import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ProcessRunner, runChecked } from '../../../../shared/process/command-runner.js';
import { describeScalingScenario } from '../../../helpers/scaling-scenario.js';

// The scaling scenario (test/helpers/scaling-scenario.ts) with a real SGE
// 8.1.9 qmaster; each node's sge_execd starts in a namespace named after it
// when its simulated guest boots (scripts/testbed/sge.sh).

const SCRIPT = path.resolve(import.meta.dirname, '../../../../scripts/testbed/sge.sh');
const MASTER = 'sge-master';
const runner = new ProcessRunner();
let dir = '';
const testbed = (...args: string[]): Promise<string> => runChecked(runner, ['bash', SCRIPT, ...args], { timeoutMs: 300_000 }).then((r) => r.stdout.trim());
const asNobody = (...argv: string[]): Promise<string> => testbed('exec', dir, MASTER, 'runuser', '-u', 'nobody', '--', ...argv);

describeScalingScenario({
  label: 'SGE (coordinator, agents, qmaster, execds)',
  queues: { bio: 'bio.q', fusion: 'fusion.q' },
  async setUp(names) {
    await testbed('install');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vonode-sge-scale-'));
    await testbed('start', dir, MASTER);
    // The pool's names resolve in the cluster (here: the testbed's hosts file), as DNS would.
    for (const name of names) await testbed('add-host', dir, name);
    await writeFile(path.join(dir, 'jobs', 'job.sh'), '#!/bin/sh\n#$ -S /bin/sh\necho "start host=$(hostname) queue=$QUEUE"\nsleep "$1"\necho "end ok"\n');
    await chmod(path.join(dir, 'jobs', 'job.sh'), 0o755);
    return {
      batchSystem: {
        kind: 'sge',
        sge: { root: path.join(dir, 'root'), cell: 'default', binDir: '/usr/lib/gridengine', placeholderHost: MASTER, commandPrefix: ['bash', SCRIPT, 'exec', dir, MASTER] },
      },
      guest: { guestCommand: ['bash', SCRIPT, 'start-execd', dir, '{hostname}'], haltCommand: ['bash', SCRIPT, 'kill-execd', dir, '{hostname}'] },
    };
  },
  submitHeld: (queue, seconds) => {
    const jobs = path.join(dir, 'jobs');
    return asNobody('qsub', '-terse', '-h', '-q', queue, '-wd', jobs, '-o', jobs, '-j', 'y', path.join(jobs, 'job.sh'), String(seconds));
  },
  release: async (ids) => void (await asNobody('qrls', ...ids)),
  jobOutput: (id) => readFile(path.join(dir, 'jobs', `job.sh.o${id}`), 'utf8').catch(() => ''),
  knownNodes: async () => (await testbed('exec', dir, MASTER, 'qconf', '-sel').catch(() => '')).split('\n').filter((h) => h.startsWith('vwn-')),
  tearDown: async () => {
    if (dir) await testbed('stop', dir);
  },
});
