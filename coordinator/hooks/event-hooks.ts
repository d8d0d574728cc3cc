import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { CoordinatorConfig, PoolEntry } from '../config.js';
import type { EventBus } from '../events/event-bus.js';
import { HookEventMapper } from './hook-event-mapper.js';
import type { HookSpawner } from './hook-process.js';
import { HookRunner } from './hook-runner.js';

/** The `hooks` section of the coordinator config. */
export type HooksConfig = NonNullable<CoordinatorConfig['hooks']>;

/** What the site's event hooks work with. */
export interface EventHooksDeps {
  config: HooksConfig;
  site: string;
  pool: readonly PoolEntry[];
  events: EventBus;
  clock: Clock;
  logger: Logger;
  /** Replaces the real process spawner (tests). */
  spawner?: HookSpawner;
}

/** Running event hooks: the runner (for tests and status) and how to stop them. */
export interface EventHooks {
  runner: HookRunner;
  /** Unsubscribes, drops waiting runs and gives running ones a moment before killing them. */
  stop(): Promise<void>;
}

/**
 * Starts the site's event hooks (coordinator/hooks): subscribes to the
 * event bus, maps each event to hook events and queues their executables.
 * Only the leader calls it (site-leader.ts): a standby republishes the
 * leader's events and must not run hooks for them.
 */
export function startEventHooks(deps: EventHooksDeps): EventHooks {
  const { config, clock } = deps;
  const logger = deps.logger.child({ component: 'hooks' });
  const byHostname = new Map(deps.pool.map((p) => [p.hostname, p]));
  const mapper = new HookEventMapper({ site: deps.site, poolEntry: (h) => byHostname.get(h), sinceUnixMs: clock.nowMs() });
  const runner = new HookRunner({
    hooks: config.events, timeoutMs: config.timeout, maxConcurrent: config.maxConcurrent, maxQueued: config.maxQueued,
    spawner: deps.spawner, clock, logger,
  });
  const unsubscribe = deps.events.subscribe((event) => {
    // The bus drops a listener that throws: hooks must stay subscribed whatever one event holds.
    try {
      for (const h of mapper.map(event)) runner.fire(h);
    } catch (e) {
      logger.error({ err: errorMessage(e) }, 'could not map an event to hooks');
    }
  });
  const configured = Object.entries(config.events).filter(([, paths]) => paths.length).map(([name, paths]) => `${name}:${paths.length}`);
  logger.info({ hooks: configured, timeoutMs: config.timeout, maxConcurrent: config.maxConcurrent }, 'event hooks on');
  return {
    runner,
    stop: async () => {
      unsubscribe();
      await runner.shutdown();
    },
  };
}
