import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ImageStore } from '../deploy/image-store.js';
import type { VmSpec } from '../deploy/vm-spec.js';
import type { DomainConfig } from '../hypervisor/hypervisor-driver.js';
import { templateCmdline, type SnapshotSupport } from '../hypervisor/snapshot.js';
import { templateKey, type TemplateShape } from './template-key.js';
import type { TemplateLookup, TemplateStore } from './template-store.js';

/** Prefix of template-build domains: not DOMAIN_PREFIX, so listings, recovery and the coordinator never take one for a node. */
export const TEMPLATE_DOMAIN_PREFIX = 'vt-';
/** The NIC address of a template guest: locally administered, and never on the wire (a template has no network backend). */
export const TEMPLATE_MAC = '02:00:00:00:00:01';

/** Settings of snapshot templates (agent config `templates`). */
export interface TemplateSettings {
  /** Keep at most this many templates (least recently used go first). */
  maxCount: number;
  /** A build starts only after the host had no deployment for this long. */
  idleQuietMs: number;
  /** After a failed build of a shape, wait this long (doubling per failure) before trying it again. */
  retryAfterMs: number;
}

/** What the manager works with. */
export interface TemplateManagerDeps {
  store: TemplateStore;
  snapshots: SnapshotSupport;
  hypervisor: string;
  images: ImageStore;
  /** The driver's destroy (cleans a build domain left by a crash). */
  destroyDomain(name: string): Promise<void>;
  runRoot: string;
  instancesDir: string;
  /** Milliseconds since the host last had a deployment in flight (0 while one runs). */
  idleForMs(): number;
  clock: Clock;
  logger: Logger;
  settings: TemplateSettings;
}

interface Wanted {
  spec: VmSpec;
  shape: TemplateShape;
}

/**
 * Keeps a snapshot template for each VO appliance shape this host deploys:
 * the first deployment of a shape boots cold and asks for a template, which
 * is built when the host is idle (a build aborts as soon as a deployment
 * arrives, and is tried again later); later deployments restore it. A
 * template that fails to restore is deleted and rebuilt. Templates of
 * another hypervisor build are deleted when the agent starts (their images
 * or the hypervisor changed: the next deployment asks for a new one).
 */
export class TemplateManager {
  private readonly wanted = new Map<string, Wanted>();
  private readonly failures = new Map<string, { count: number; untilMs: number }>();
  private building: { key: string; abort: AbortController; done: Promise<void> } | undefined;
  private timer: { handle: ReturnType<typeof setTimeout>; dueMs: number } | undefined;
  private closed = false;

  constructor(private readonly deps: TemplateManagerDeps) {}

  /** Cleans what a crash left (build domains, their overlays, unfinished templates) and templates of another hypervisor build. */
  async open(): Promise<void> {
    const { store, logger } = this.deps;
    for (const name of await readdir(this.deps.runRoot).catch(() => [] as string[])) {
      if (name.startsWith(TEMPLATE_DOMAIN_PREFIX)) await this.deps.destroyDomain(name).catch((e: unknown) => logger.warn({ err: errorMessage(e), name }, 'could not remove a template build left by a crash'));
    }
    for (const f of await readdir(this.deps.instancesDir).catch(() => [] as string[])) {
      if (f.startsWith(TEMPLATE_DOMAIN_PREFIX)) await rm(path.join(this.deps.instancesDir, f), { force: true });
    }
    const swept = await store.sweepIncomplete();
    if (swept.length > 0) logger.info({ templates: swept }, 'removed unfinished templates');
    const version = await this.deps.snapshots.version();
    for (const t of await store.list()) {
      if (t.shape.hypervisor !== this.deps.hypervisor || t.shape.hypervisorVersion !== version) {
        await store.remove(t.key);
        logger.info({ template: t.key, vo: t.shape.vo, was: t.shape.hypervisorVersion, now: version }, 'removed a template of another hypervisor build; the next deployment of its appliance asks for a new one');
      }
    }
  }

  /** The template shape of a VM, or undefined when it cannot have one (no direct kernel boot: the appliance's /init is what stops at the template point). */
  async shapeOf(spec: VmSpec): Promise<TemplateShape | undefined> {
    if (!spec.kernel || !spec.initrd) return undefined;
    return {
      hypervisor: this.deps.hypervisor,
      hypervisorVersion: await this.deps.snapshots.version(),
      diskSha256: spec.disk.sha256,
      kernelSha256: spec.kernel.sha256,
      initrdSha256: spec.initrd.sha256,
      cmdline: templateCmdline(spec.cmdline),
      memoryMb: spec.memoryMb,
      vcpus: spec.vcpus,
      vo: spec.vo,
    };
  }

  /** The template to restore `spec` from, or why there is none. A refused one is deleted and asked for again. */
  async find(spec: VmSpec): Promise<TemplateLookup & { key?: string }> {
    const shape = await this.shapeOf(spec);
    if (!shape) return { reason: 'none', detail: 'the appliance boots from its disk (templates need a kernel and an initrd)' };
    const key = templateKey(shape);
    if (this.building?.key === key) return { reason: 'none', detail: `template ${key} is being built`, key };
    const found = await this.deps.store.find(shape);
    if (!found.found && found.reason === 'refused') {
      await this.invalidate(key, found.detail);
    }
    return { ...found, key };
  }

  /** Deletes a template that is wrong (refused, corrupt, failed to restore). */
  async invalidate(key: string, reason: string): Promise<void> {
    this.deps.logger.warn({ template: key, reason }, 'template deleted; it is rebuilt in idle time');
    await this.deps.store.remove(key);
  }

  /** Asks for a template of `spec`'s shape, built when the host is idle. */
  async want(spec: VmSpec): Promise<void> {
    const shape = await this.shapeOf(spec);
    if (!shape || this.closed) return;
    const key = templateKey(shape);
    // A template that exists stays: a rebuild interrupted or failed would otherwise take it away.
    if ((await this.deps.store.find(shape)).found) return;
    if (!this.wanted.has(key)) this.wanted.set(key, { spec, shape });
    this.schedule(this.deps.settings.idleQuietMs);
  }

  /** A deployment arrives: a build in progress stops (it would slow the deployment), and is tried again when idle. */
  deploymentStarting(): void {
    this.building?.abort.abort(new Error('a deployment arrived'));
  }

  /** Stops building; waits for a build in progress to clean up. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer.handle);
    this.building?.abort.abort(new Error('agent stopping'));
    await this.building?.done;
  }

  /** Shapes asked for and not built yet (for listings and tests). */
  pending(): string[] {
    return [...this.wanted.keys()];
  }

  /** Resolves when no build runs and none is pending (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.building || this.wanted.size > 0) {
      await (this.building?.done ?? this.deps.clock.sleep(100));
    }
  }

  /** Runs tick() after `delayMs`, or sooner if a timer is due earlier already (one timer: a shape in back-off never delays another). */
  private schedule(delayMs: number): void {
    if (this.closed) return;
    const dueMs = this.deps.clock.monotonicMs() + Math.max(0, delayMs);
    if (this.timer && this.timer.dueMs <= dueMs) return;
    if (this.timer) clearTimeout(this.timer.handle);
    const handle = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, Math.max(0, delayMs));
    handle.unref?.();
    this.timer = { handle, dueMs };
  }

  private async tick(): Promise<void> {
    if (this.building || this.closed || this.wanted.size === 0) return;
    const quiet = this.deps.settings.idleQuietMs - this.deps.idleForMs();
    if (quiet > 0) return this.schedule(quiet);
    const now = this.deps.clock.nowMs();
    const next = [...this.wanted.entries()].find(([key]) => (this.failures.get(key)?.untilMs ?? 0) <= now);
    if (!next) {
      const soonest = Math.min(...[...this.wanted.keys()].map((k) => this.failures.get(k)?.untilMs ?? now));
      return this.schedule(soonest - now);
    }
    const [key, want] = next;
    const abort = new AbortController();
    const done = this.build(key, want, abort.signal).finally(() => {
      this.building = undefined;
      if (this.wanted.size > 0) this.schedule(this.deps.settings.idleQuietMs);
    });
    this.building = { key, abort, done };
  }

  private async build(key: string, want: Wanted, signal: AbortSignal): Promise<void> {
    const { store, images, clock, logger, settings } = this.deps;
    const name = `${TEMPLATE_DOMAIN_PREFIX}${key.slice(0, 12)}`;
    const overlay = path.join(this.deps.instancesDir, `${name}.qcow2`);
    const shas = [want.spec.disk, want.spec.kernel, want.spec.initrd].filter((r) => r !== undefined).map((r) => r.sha256);
    const log = logger.child({ template: key, vo: want.shape.vo });
    const started = clock.monotonicMs();
    log.info('building a snapshot template (host idle)');
    try {
      const boot = await images.prepare(want.spec, overlay, signal);
      try {
        const config: DomainConfig = {
          name, hostname: 'template', mac: TEMPLATE_MAC, ip: '0.0.0.0',
          vcpus: want.spec.vcpus, memoryMb: want.spec.memoryMb,
          diskPath: overlay, diskFormat: 'qcow2',
          ...(boot.kernelPath ? { kernelPath: boot.kernelPath } : {}),
          ...(boot.initrdPath ? { initrdPath: boot.initrdPath } : {}),
          cmdline: want.shape.cmdline,
          runDir: path.join(this.deps.runRoot, name),
        };
        const digest = await this.deps.snapshots.saveTemplate(config, await store.filesFor(key), signal);
        const record = await store.commit(want.shape, digest, clock.nowMs(), clock.monotonicMs() - started);
        this.wanted.delete(key);
        this.failures.delete(key);
        log.info({ stateBytes: record.stateBytes, memoryBytes: record.memoryBytes, buildMs: Math.round(record.buildMs) }, 'snapshot template ready');
      } finally {
        await images.release(shas, overlay);
      }
      await this.prune();
    } catch (e) {
      // Only an unfinished build goes; a committed template under the key (none is expected: want() skips those) stays.
      if (!(await store.find(want.shape).catch(() => ({ found: undefined }))).found) await store.remove(key).catch(() => undefined);
      if (signal.aborted) {
        log.info({ reason: errorMessage(signal.reason) }, 'template build stopped; tried again when the host is idle');
        return;
      }
      const count = (this.failures.get(key)?.count ?? 0) + 1;
      const waitMs = settings.retryAfterMs * 2 ** Math.min(count - 1, 6);
      this.failures.set(key, { count, untilMs: clock.nowMs() + waitMs });
      log.warn({ err: errorMessage(e), failures: count, retryInMs: waitMs }, 'template build failed; deployments of this appliance boot cold meanwhile (does the appliance support templates? scripts/appliance/build-guest.sh)');
    }
  }

  /** Keeps the newest-used settings.maxCount templates. */
  private async prune(): Promise<void> {
    const all = await this.deps.store.list();
    for (const t of all.slice(this.deps.settings.maxCount)) {
      await this.deps.store.remove(t.key);
      this.deps.logger.info({ template: t.key, vo: t.shape.vo }, 'template pruned (templates.maxCount)');
    }
  }
}
