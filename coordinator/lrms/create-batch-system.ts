import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { CommandRunner } from '../../shared/process/command-runner.js';
import type { CoordinatorConfig } from '../config.js';
import type { BatchSystem } from './batch-system.js';
import { SgeBatchSystem } from './sge/sge-batch-system.js';
import { SlurmBatchSystem } from './slurm/slurm-batch-system.js';

/** The configured batch-system adapter, or undefined when the config has no batchSystem section. */
export function createBatchSystem(config: CoordinatorConfig['batchSystem'], runner: CommandRunner, clock: Clock, logger: Logger): BatchSystem | undefined {
  if (!config) return undefined;
  switch (config.kind) {
    case 'sge': {
      const sge = config.sge!;
      return new SgeBatchSystem({
        placeholderHost: sge.placeholderHost, sgeCell: sge.cell, runner, clock, logger,
        ...(sge.root ? { sgeRoot: sge.root } : {}),
        ...(sge.binDir ? { binDir: sge.binDir } : {}),
        ...(sge.commandPrefix ? { commandPrefix: sge.commandPrefix } : {}),
      });
    }
    case 'slurm': {
      const slurm = config.slurm!;
      return new SlurmBatchSystem({
        runner, clock, logger,
        ...(slurm.conf ? { slurmConf: slurm.conf } : {}),
        ...(slurm.binDir ? { binDir: slurm.binDir } : {}),
        ...(slurm.commandPrefix ? { commandPrefix: slurm.commandPrefix } : {}),
      });
    }
  }
}
