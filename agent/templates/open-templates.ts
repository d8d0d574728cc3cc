import path from 'node:path';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentConfig } from '../config.js';
import type { ImageStore } from '../deploy/image-store.js';
import type { HypervisorDriver } from '../hypervisor/hypervisor-driver.js';
import { TemplateManager } from './template-manager.js';
import { TemplateStore } from './template-store.js';

/**
 * The agent's template manager, opened (leftovers of a crash cleaned,
 * templates of another hypervisor build deleted), or undefined when
 * templates are off or the driver cannot save and restore guests.
 */
export async function openTemplates(
  config: Pick<AgentConfig, 'templates' | 'stateDir'>,
  driver: HypervisorDriver,
  images: ImageStore,
  idleForMs: () => number,
  clock: Clock,
  logger: Logger,
): Promise<TemplateManager | undefined> {
  const snapshots = driver.snapshots;
  if (!config.templates.enabled || !snapshots) return undefined;
  const log = logger.child({ component: 'templates' });
  const manager = new TemplateManager({
    store: new TemplateStore(config.templates.dir ?? path.join(config.stateDir, 'templates')),
    snapshots,
    hypervisor: driver.kind,
    images,
    destroyDomain: (name) => driver.destroy(name),
    runRoot: path.join(config.stateDir, 'run'),
    instancesDir: path.join(config.stateDir, 'instances'),
    idleForMs,
    clock,
    logger: log,
    settings: { maxCount: config.templates.maxCount, idleQuietMs: config.templates.idleQuiet, retryAfterMs: config.templates.retryAfter },
  });
  try {
    await manager.open();
  } catch (e) {
    // Without a working hypervisor version there is no safe template: every deployment boots cold.
    log.warn({ err: e }, 'snapshot templates off: the hypervisor build could not be read');
    return undefined;
  }
  return manager;
}
