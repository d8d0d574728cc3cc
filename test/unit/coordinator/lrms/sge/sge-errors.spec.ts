import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  classifySgeFailure,
  qconfFailedSilently,
  SgeAlreadyExistsError,
  SgeCommandError,
  SgeHostInUseError,
  SgeNotFoundError,
  SgePermissionError,
  SgeQmasterUnreachableError,
  SgeUnknownHostError,
} from '../../../../../coordinator/lrms/sge/sge-errors.js';
import type { CommandResult } from '../../../../../shared/process/command-runner.js';

// Every message below was printed by Grid Engine 8.1.9 in the testbed.
describe('coordinator/lrms/sge/sge-errors classifySgeFailure', () => {
  type Case = [what: string, argv: string[], out: Partial<CommandResult>, cls: new (...args: never[]) => SgeCommandError, code: status, name: string];
  const cases: Case[] = [
    ['qmaster down (qconf)', ['qconf', '-sel'], { stderr: 'unable to send message to qmaster using port 6444 on host "sge-master": got send error\nerror: commlib error: got select error (Connection refused)\n' }, SgeQmasterUnreachableError, status.UNAVAILABLE, 'qconf -sel'],
    ['qmaster down (qmod writes to stdout)', ['qmod', '-d', '*@n1'], { stdout: 'unable to send message to qmaster using port 6444 on host "sge-master": got send error\n', stderr: 'error: commlib error: got select error (Connection refused)\n' }, SgeQmasterUnreachableError, status.UNAVAILABLE, 'qmod -d'],
    ['exec host exists', ['qconf', '-Ae', '/tmp/x/exechost'], { stderr: 'exechost "bio-n1" already exists\n' }, SgeAlreadyExistsError, status.ALREADY_EXISTS, 'qconf -Ae'],
    ['configuration exists', ['qconf', '-Aconf', '/tmp/x/bio-n1'], { stderr: 'configuration bio-n1 already exists\n' }, SgeAlreadyExistsError, status.ALREADY_EXISTS, 'qconf -Aconf'],
    ['host group exists', ['qconf', '-Ahgrp', '/tmp/x/hostgroup'], { stderr: 'host group "@bio" already exists\n' }, SgeAlreadyExistsError, status.ALREADY_EXISTS, 'qconf -Ahgrp'],
    ['queue exists', ['qconf', '-Aq', '/tmp/x/queue'], { stderr: 'cluster queue "bio.q" already exists\n' }, SgeAlreadyExistsError, status.ALREADY_EXISTS, 'qconf -Aq'],
    ['host still in a queue', ['qconf', '-de', 'bio-n1'], { stderr: 'Host object "bio-n1" is still referenced in cluster queue "bio.q".\n' }, SgeHostInUseError, status.FAILED_PRECONDITION, 'qconf -de'],
    ['exec host gone', ['qconf', '-de', 'bio-n1'], { stderr: 'denied: execution host "bio-n1" does not exist\n' }, SgeNotFoundError, status.NOT_FOUND, 'qconf -de'],
    ['execd of an unknown host', ['qconf', '-ke', 'bio-n1'], { stderr: '"bio-n1" is not an execution host\n' }, SgeNotFoundError, status.NOT_FOUND, 'qconf -ke'],
    ['host group missing', ['qconf', '-shgrp', '@bio'], { stderr: 'Host group "@bio" does not exist\n' }, SgeNotFoundError, status.NOT_FOUND, 'qconf -shgrp'],
    ['adding to a missing host group', ['qconf', '-aattr', 'hostgroup', 'hostlist', 'n1', '@x'], { stderr: 'denied: host group "@x" does not exist\n' }, SgeNotFoundError, status.NOT_FOUND, 'qconf -aattr'],
    ['queue missing', ['qconf', '-sq', 'bio.q'], { stderr: 'No cluster queue or queue instance matches the phrase "bio.q"\n' }, SgeNotFoundError, status.NOT_FOUND, 'qconf -sq'],
    ['no host group at all', ['qconf', '-shgrpl'], { stderr: 'no host group list defined\n' }, SgeNotFoundError, status.NOT_FOUND, 'qconf -shgrpl'],
    ['no exec host at all', ['qconf', '-sel'], { stderr: 'no execution host defined\n' }, SgeNotFoundError, status.NOT_FOUND, 'qconf -sel'],
    ['qmod on no instance (stdout)', ['qmod', '-d', '*@n1'], { stdout: 'invalid queue "*@n1"\n' }, SgeNotFoundError, status.NOT_FOUND, 'qmod -d'],
    ['qstat -q on no instance (silent exit 1)', ['qstat', '-f', '-xml', '-q', 'bio.q@n1'], {}, SgeNotFoundError, status.NOT_FOUND, 'qstat -f'],
    ['unresolvable name (show)', ['qconf', '-se', 'foo'], { stderr: 'can\'t resolve hostname "foo"\n' }, SgeUnknownHostError, status.FAILED_PRECONDITION, 'qconf -se'],
    ['unresolvable name (add)', ['qconf', '-aattr', 'hostgroup', 'hostlist', 'nosuch', '@bio'], { stderr: 'unable to resolve host "nosuch"\n' }, SgeUnknownHostError, status.FAILED_PRECONDITION, 'qconf -aattr'],
    ['not an admin host', ['qconf', '-sel'], { stderr: 'denied: host "bio-n1" is neither submit nor admin host\n' }, SgePermissionError, status.PERMISSION_DENIED, 'qconf -sel'],
    ['unreadable file', ['qconf', '-Aq', '/dev/stdin'], { stderr: 'error: error opening file "/dev/stdin" for reading: Success\n' }, SgeCommandError, status.UNAVAILABLE, 'qconf -Aq'],
    ['qstat -s r silent exit 1 without -q', ['qstat', '-s', 'r'], {}, SgeCommandError, status.UNAVAILABLE, 'qstat -s'],
  ];
  for (const [what, argv, out, cls, code, name] of cases) {
    it(`${what} → ${cls.name}`, () => {
      const result: CommandResult = { code: 1, stdout: '', stderr: '', ...out };
      const err = classifySgeFailure(argv, result);
      expect(err.constructor).to.equal(cls);
      expect(err).to.include({ exitCode: 1, stderr: result.stderr, code });
      expect(err.argv).to.deep.equal(argv);
      expect(err.message).to.contain(`${name} failed (exit 1)`).and.contain(`[${argv.join(' ')}]`);
    });
  }

  it('names the SGE command behind a namespace prefix', () => {
    const argv = ['ip', 'netns', 'exec', 'm', 'qconf', '-de', 'n1'];
    const err = classifySgeFailure(argv, { code: 1, stdout: '', stderr: 'denied: execution host "n1" does not exist\n' });
    expect(err).to.be.instanceOf(SgeNotFoundError);
    expect(err.message).to.contain('qconf -de failed');
  });

  const silent: [string, boolean][] = [
    ['error: error opening file "/x" for reading: Success\n', true],
    ['root@m added "@bio" to host group list\n', false],
    ['"n1" does not exist in "hostlist" of "hostgroup"\n', false],
  ];
  for (const [stderr, failed] of silent) {
    it(`qconf exit 0 with ${JSON.stringify(stderr.trim())} is ${failed ? 'a failure' : 'fine'}`, () => {
      expect(qconfFailedSilently({ code: 0, stdout: '', stderr })).to.equal(failed);
    });
  }
});
