import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { FailedPreconditionError, NotFoundError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { PhaseRecorder, type PhaseSink } from './phase-recorder.js';
import { teardownDomain, type TeardownDeps, type TeardownOutcome } from './teardown.js';

/** One removal request. */
export interface RemoveCommand {
  operationId?: string;
  hostname: string;
  /** 0 or absent: the agent's default. */
  shutdownTimeoutMs?: number;
  receivedAtMs?: number;
}

/**
 * Removes a deployed VM: marks its record 'removing' (so a crash mid-way is
 * finished by recovery), then runs the teardown with phases RC, VMD, DHR, DKR.
 */
export class Remover {
  constructor(
    private readonly deps: TeardownDeps & { clock: Clock; logger: Logger },
    private readonly defaultShutdownTimeoutMs: number,
  ) {}

  /** Throws NotFoundError for an unknown hostname, FailedPreconditionError while it is still deploying. */
  async remove(command: RemoveCommand, sink: PhaseSink): Promise<TeardownOutcome> {
    const phases = new PhaseRecorder(command.operationId || randomUUID(), command.hostname, this.deps.clock, sink);
    phases.start('RC', {}, command.receivedAtMs);
    const record = await this.deps.store.get(command.hostname);
    if (!record) throw new NotFoundError(`no VM named ${command.hostname} on this host (see ListDomains)`);
    if (record.status === 'deploying') {
      throw new FailedPreconditionError(`${command.hostname} is still deploying: cancel the Deploy call (its cleanup removes it) or retry when it finished`);
    }
    await this.deps.store.put({ ...record, status: 'removing' });
    phases.end('RC');
    const outcome = await teardownDomain(this.deps, record, {
      releaseImages: true,
      shutdownTimeoutMs: command.shutdownTimeoutMs || this.defaultShutdownTimeoutMs,
      phases,
    });
    this.deps.logger.info({ hostname: command.hostname, ...outcome }, 'domain removed');
    return outcome;
  }
}
