import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { CoordinatorConfig } from '../config.js';
import type { StateStore } from '../store/state-store.js';
import { ApelWriter } from './apel-writer.js';
import { DirQueueSimple } from './dirq-queue.js';

/** Starts the APEL writer the config asks for (`accounting.apel`), or returns undefined when it asks for none. */
export function startApelWriter(config: CoordinatorConfig, store: StateStore, clock: Clock, logger: Logger): ApelWriter | undefined {
  const apel = config.accounting?.apel;
  if (!apel) return undefined;
  const writer = new ApelWriter({
    store,
    queue: new DirQueueSimple(apel.dir, () => clock.nowMs()),
    site: {
      siteName: apel.siteName ?? config.site,
      cloudComputeService: apel.cloudComputeService ?? config.advertise ?? config.listen,
      cloudType: apel.cloudType,
    },
    intervalMs: apel.interval,
    clock,
    logger: logger.child({ component: 'apel' }),
  });
  writer.start();
  return writer;
}
