import { expect } from 'chai';
import { CommandFailedError, findProgram, matchFailure, type CommandResult, type FailureRule } from '../../../../shared/process/command-runner.js';

class GoneError extends CommandFailedError {}
class BusyError extends CommandFailedError {}

describe('shared/process/command-runner failure helpers', () => {
  const result = (out: Partial<CommandResult>): CommandResult => ({ code: 2, stdout: '', stderr: '', ...out });

  it('CommandFailedError exposes the exit code and stderr', () => {
    const err = new CommandFailedError(['tool', '-x'], result({ stderr: 'boom\n', stdout: 'out' }));
    expect(err).to.include({ exitCode: 2, stderr: 'boom\n' });
    expect(err.message).to.equal('tool failed (exit 2): boom [tool -x]');
  });

  const rules: FailureRule<CommandFailedError>[] = [
    [[/no such thing/], GoneError],
    [[/busy/, /in use/], BusyError],
  ];
  const cases: [what: string, out: Partial<CommandResult>, cls: (new (...args: never[]) => CommandFailedError) | undefined][] = [
    ['a stderr match', { stderr: 'error: no such thing\n' }, GoneError],
    ['a stdout match', { stdout: 'device in use\n' }, BusyError],
    ['the first rule when several match', { stderr: 'busy: no such thing' }, GoneError],
    ['nothing when no rule matches', { stderr: 'something else' }, undefined],
  ];
  for (const [what, out, cls] of cases) {
    it(`matchFailure: ${what}`, () => {
      const err = matchFailure(['tool'], result(out), rules);
      if (cls === undefined) expect(err).to.equal(undefined);
      else expect(err).to.be.instanceOf(cls).and.include({ exitCode: 2 });
    });
  }

  const programs = new Set(['qconf', 'scontrol']);
  const found: [argv: string[], expected: { index: number; name: string } | undefined][] = [
    [['qconf', '-sel'], { index: 0, name: 'qconf' }],
    [['ip', 'netns', 'exec', 'm', '/usr/bin/qconf', '-de', 'n1'], { index: 4, name: 'qconf' }],
    [['nsenter', '--net=/run/netns/ctl', 'scontrol', 'show', 'qconf'], { index: 2, name: 'scontrol' }],
    [['xl', 'list'], undefined],
  ];
  for (const [argv, expected] of found) {
    it(`findProgram in ${JSON.stringify(argv.join(' '))}`, () => {
      expect(findProgram(argv, programs)).to.deep.equal(expected);
    });
  }
});
