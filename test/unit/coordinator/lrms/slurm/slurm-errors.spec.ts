import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  classifySlurmFailure,
  SlurmCommandError,
  SlurmControllerUnreachableError,
  SlurmInvalidRequestError,
  SlurmNodeBusyError,
  SlurmNodeExistsError,
  SlurmNodeNotFoundError,
  SlurmPermissionError,
} from '../../../../../coordinator/lrms/slurm/slurm-errors.js';
import type { CommandResult } from '../../../../../shared/process/command-runner.js';

// Every failure in the fixture was printed by Slurm 22.05.8 clients in the testbed.
interface Captured {
  name: string;
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
}
const captured: Captured[] = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../../../fixtures/slurm/scontrol-failures.json'), 'utf8'));

describe('coordinator/lrms/slurm/slurm-errors classifySlurmFailure', () => {
  type Cls = new (...args: never[]) => SlurmCommandError;
  const expected: Record<string, [Cls, status, string]> = {
    'update-unknown': [SlurmNodeNotFoundError, status.NOT_FOUND, 'scontrol update'],
    'delete-unknown': [SlurmNodeNotFoundError, status.NOT_FOUND, 'scontrol delete'],
    'show-unknown': [SlurmNodeNotFoundError, status.NOT_FOUND, 'scontrol show'],
    'delete-busy': [SlurmNodeBusyError, status.FAILED_PRECONDITION, 'scontrol delete'],
    'create-badparam': [SlurmInvalidRequestError, status.INVALID_ARGUMENT, 'scontrol create'],
    'create-badstate': [SlurmInvalidRequestError, status.INVALID_ARGUMENT, 'scontrol create'],
    'update-badstate': [SlurmInvalidRequestError, status.INVALID_ARGUMENT, 'scontrol update'],
    'update-perm': [SlurmPermissionError, status.PERMISSION_DENIED, 'scontrol update'],
    'create-perm': [SlurmPermissionError, status.PERMISSION_DENIED, 'scontrol create'],
    noconf: [SlurmControllerUnreachableError, status.UNAVAILABLE, 'scontrol ping'],
    'scontrol-down': [SlurmControllerUnreachableError, status.UNAVAILABLE, 'scontrol delete'],
    'create-down': [SlurmControllerUnreachableError, status.UNAVAILABLE, 'scontrol create'],
    'showf-down': [SlurmControllerUnreachableError, status.UNAVAILABLE, 'scontrol show'],
  };

  it('has an expectation for every captured failure', () => {
    expect(captured.map((c) => c.name).sort()).to.deep.equal(Object.keys(expected).sort());
  });

  for (const c of captured) {
    const [cls, code, name] = expected[c.name] ?? [SlurmCommandError, status.UNAVAILABLE, '?'];
    it(`${c.name}: ${c.argv.join(' ')} → ${cls.name}`, () => {
      const result: CommandResult = { code: c.code, stdout: c.stdout, stderr: c.stderr };
      const err = classifySlurmFailure(c.argv, result);
      expect(err.constructor).to.equal(cls);
      expect(err).to.include({ exitCode: c.code, stderr: c.stderr, code });
      expect(err.argv).to.deep.equal(c.argv);
      expect(err.message).to.contain(`${name} failed (exit ${c.code})`).and.contain(`[${c.argv.join(' ')}]`);
    });
  }

  const more: [string, string[], string, Cls][] = [
    ['a duplicate create, if slurmctld ever reports it', ['scontrol', 'create', 'NodeName=n1', 'State=FUTURE'], "error: Node 'n1' already exists in the node table\n", SlurmNodeExistsError],
    ['an unknown failure', ['sinfo', '--json'], 'sinfo: error: something new\n', SlurmCommandError],
    ['a timeout between client and slurmctld', ['squeue', '--json'], 'squeue: error: Socket timed out on send/recv operation\n', SlurmControllerUnreachableError],
  ];
  for (const [what, argv, stderr, cls] of more) {
    it(`${what} → ${cls.name}`, () => {
      expect(classifySlurmFailure(argv, { code: 1, stdout: '', stderr }).constructor).to.equal(cls);
    });
  }

  it('names the Slurm command behind a namespace prefix, options skipped', () => {
    const argv = ['nsenter', '--net=/run/netns/x', 'scontrol', '--future', '--oneliner', 'show', 'node', 'n1'];
    const err = classifySlurmFailure(argv, { code: 1, stdout: 'Node n1 not found\n', stderr: '' });
    expect(err).to.be.instanceOf(SlurmNodeNotFoundError);
    expect(err.message).to.contain('scontrol show failed');
  });
});
