import { mkdir, rename, rm } from 'node:fs/promises';
import type { Clock } from '../../../shared/clock.js';
import { DeadlineError, UnavailableError } from '../../../shared/errors.js';
import type { CommandRunner } from '../../../shared/process/command-runner.js';
import type { DomainConfig } from '../hypervisor-driver.js';
import { IdentityChannel } from '../identity-channel.js';
import { digestFile } from '../../../shared/fs/file-digest.js';
import { receiveToFile, sendFile } from '../migration-stream.js';
import { identityLine, TemplateRestoreError, type FileDigest, type GuestIdentity, type RestoreBreakdown, type SavedState, type SnapshotSupport, type TemplateFiles } from '../snapshot.js';
import { buildQemuArgv, qemuPaths, type QemuArgvOptions, type QemuStartMode } from './qemu-argv.js';
import { isOurQemu, readPidFile } from './qemu-process.js';
import { QmpClient } from './qmp-client.js';
import { createTap, deleteTap, tapNameFor } from './tap-device.js';

/** How long a template guest may take to reach its template point (a cold boot under load). */
const TEMPLATE_READY_TIMEOUT_MS = 180_000;
/** How long a restored guest may take to say it took its identity. */
const IDENTITY_ACK_TIMEOUT_MS = 10_000;
/** Saving runs with the VM stopped: no reason to throttle the stream (QEMU's default is 32 MiB/s). */
const SAVE_BANDWIDTH_BYTES_PER_S = 64 * 1024 ** 3;
/** QMP status poll while a migration runs. */
const POLL_MS = 5;

/** What the snapshot half of the QEMU driver shares with the driver. */
export interface QemuSnapshotDeps {
  runner: CommandRunner;
  argv: QemuArgvOptions;
  bridge: string;
  clock: Clock;
  /** The driver's destroy: kills the domain's QEMU, deletes its tap and run directory. */
  destroy(name: string): Promise<void>;
}

/**
 * Snapshot templates for the QEMU driver. Saving: the template boots with a
 * dead-end network backend until the guest says "ready" on its identity
 * port, is stopped, and streams its state (QMP `migrate` to a unix socket the
 * agent writes to a file). Restoring: QEMU starts with `-incoming defer`
 * and the template's devices, the agent streams the file in, checks its
 * digest before the guest runs a single instruction, then `cont` and the
 * identity line.
 */
export class QemuSnapshots implements SnapshotSupport {
  private versionText: Promise<string> | undefined;

  constructor(private readonly deps: QemuSnapshotDeps) {}

  version(): Promise<string> {
    this.versionText ??= this.deps.runner.run([this.deps.argv.binary, '--version'], { timeoutMs: 10_000 }).then((r) => {
      const first = r.stdout.split('\n')[0]?.trim() ?? '';
      if (r.code !== 0 || !first) throw new UnavailableError(`${this.deps.argv.binary} --version failed: ${r.stderr.trim() || `exit ${r.code}`}`);
      return `${first}; machine ${this.deps.argv.machine}; accel ${this.deps.argv.accel}`;
    });
    this.versionText.catch(() => (this.versionText = undefined));
    return this.versionText;
  }

  async saveTemplate(config: DomainConfig, files: TemplateFiles, signal?: AbortSignal): Promise<{ state: FileDigest; memory: FileDigest }> {
    const paths = qemuPaths(config.runDir);
    const partial = { state: `${files.state}.partial`, memory: `${files.memory}.partial` };
    try {
      await rm(partial.memory, { force: true });
      await this.launch(config, { kind: 'template', memoryFile: partial.memory });
      const identity = await IdentityChannel.connect(paths.identitySocket);
      const qmp = await QmpClient.connect(paths.qmpSocket);
      try {
        await qmp.execute('cont');
        await identity.waitFor((l) => l === 'ready', TEMPLATE_READY_TIMEOUT_MS, 'template point ("ready")', signal);
        await qmp.execute('stop');
        await qmp.execute('migrate-set-parameters', { 'max-bandwidth': SAVE_BANDWIDTH_BYTES_PER_S });
        // The RAM is in the (shared) memory file already: the stream carries only devices and firmware.
        await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
        const receiver = await receiveToFile(paths.saveSocket, partial.state);
        try {
          await qmp.execute('migrate', { uri: `unix:${paths.saveSocket}` });
          await this.waitMigration(qmp, signal);
          const state = await receiver.done;
          await qmp.execute('quit').catch(() => undefined); // QEMU may close QMP before it answers
          await this.waitGone(config.runDir);
          const memory = await digestFile(partial.memory);
          await rename(partial.memory, files.memory);
          await rename(partial.state, files.state);
          return { state, memory };
        } finally {
          receiver.close();
        }
      } finally {
        identity.close();
        qmp.close();
      }
    } finally {
      await rm(partial.state, { force: true });
      await rm(partial.memory, { force: true });
      await this.deps.destroy(config.name);
    }
  }

  async restore(config: DomainConfig, state: SavedState, identity: GuestIdentity, signal?: AbortSignal): Promise<RestoreBreakdown> {
    const paths = qemuPaths(config.runDir);
    const { clock } = this.deps;
    const t0 = clock.monotonicMs();
    try {
      await this.launch(config, { kind: 'restore', memoryFile: state.files.memory });
      const t1 = clock.monotonicMs();
      const qmp = await QmpClient.connect(paths.qmpSocket);
      try {
        await this.load(qmp, paths.incomingSocket, state, signal);
        const t2 = clock.monotonicMs();
        const channel = await IdentityChannel.connect(paths.identitySocket);
        try {
          await qmp.execute('cont');
          channel.send(identityLine(identity));
          const ack = await channel.waitFor((l) => l === 'ok' || l.startsWith('error'), IDENTITY_ACK_TIMEOUT_MS, 'identity acknowledgement', signal);
          if (ack !== 'ok') throw new TemplateRestoreError(`the restored guest refused its identity: ${ack}`, false);
        } finally {
          channel.close();
        }
        return { launchMs: t1 - t0, loadMs: t2 - t1, identityMs: clock.monotonicMs() - t2 };
      } finally {
        qmp.close();
      }
    } catch (e) {
      await this.deps.destroy(config.name).catch(() => undefined);
      if (e instanceof TemplateRestoreError) throw e;
      throw new TemplateRestoreError(`restore of ${config.name} failed: ${(e as Error).message}`, false);
    }
  }

  /**
   * Streams the saved state into a QEMU started with `-incoming defer` and
   * checks it: QEMU must have loaded it (it exits when it cannot, closing
   * QMP) and the bytes sent must match the template's sha256, both before
   * the guest runs a single instruction.
   */
  private async load(qmp: QmpClient, socket: string, state: SavedState, signal?: AbortSignal): Promise<void> {
    const statePath = state.files.state;
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    await qmp.execute('migrate-incoming', { uri: `unix:${socket}` });
    const sent = sendFile(socket, statePath);
    sent.catch(() => undefined);
    let loaded: string;
    try {
      loaded = await this.waitLoaded(qmp, signal);
    } catch (e) {
      signal?.throwIfAborted();
      throw new TemplateRestoreError(`QEMU could not load the template state ${statePath} (${(e as Error).message}); the file is refused`, true);
    }
    const digest = await sent.catch((e: unknown) => {
      throw new TemplateRestoreError(`streaming ${statePath} into QEMU failed: ${(e as Error).message}`, false);
    });
    if (loaded !== 'paused') throw new TemplateRestoreError(`QEMU did not load the template state (status ${loaded}); the file is refused`, true);
    if (digest.sha256 !== state.stateSha256) throw new TemplateRestoreError(`template state ${statePath} does not match its sha256 (corrupt)`, true);
  }

  /** Starts QEMU in `mode` (a tap on the bridge unless it is a template). Throws UnavailableError with QEMU's own message. */
  private async launch(config: DomainConfig, mode: QemuStartMode): Promise<void> {
    const paths = qemuPaths(config.runDir);
    await mkdir(config.runDir, { recursive: true });
    for (const p of [paths.qmpSocket, paths.pidFile, paths.identitySocket, paths.saveSocket, paths.incomingSocket]) await rm(p, { force: true });
    const tap = tapNameFor(config.name);
    if (mode.kind !== 'template') await createTap(this.deps.runner, tap, this.deps.bridge);
    const launched = await this.deps.runner.run(buildQemuArgv(config, tap, this.deps.argv, mode), { timeoutMs: 60_000 });
    if (launched.code !== 0) {
      if (mode.kind !== 'template') await deleteTap(this.deps.runner, tap);
      throw new UnavailableError(`qemu could not create ${config.name}: ${launched.stderr.trim() || `exit ${launched.code}`}`);
    }
  }

  /** Waits until the domain's QEMU exited (its memory file is complete only then). */
  private async waitGone(runDir: string): Promise<void> {
    const paths = qemuPaths(runDir);
    const pid = await readPidFile(paths.pidFile);
    const deadline = this.deps.clock.monotonicMs() + 10_000;
    while (pid !== undefined && (await isOurQemu(pid, paths.qmpSocket))) {
      if (this.deps.clock.monotonicMs() > deadline) throw new DeadlineError(`template QEMU pid ${pid} did not exit after quit`);
      await this.deps.clock.sleep(20);
    }
  }

  /** Polls an outgoing migration until it completed. Throws UnavailableError when it failed. */
  private async waitMigration(qmp: QmpClient, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const m = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
      if (m.status === 'completed') return;
      if (m.status === 'failed' || m.status === 'cancelled') throw new UnavailableError(`saving the template failed: ${m['error-desc'] ?? m.status}`);
      await this.deps.clock.sleep(POLL_MS);
    }
  }

  /** Polls an incoming migration until the VM left 'inmigrate'; resolves with its run state. */
  private async waitLoaded(qmp: QmpClient, signal?: AbortSignal): Promise<string> {
    const deadline = this.deps.clock.monotonicMs() + 60_000;
    for (;;) {
      signal?.throwIfAborted();
      const s = await qmp.execute<{ status: string }>('query-status');
      if (s.status !== 'inmigrate') return s.status;
      if (this.deps.clock.monotonicMs() > deadline) throw new DeadlineError('the template state did not load within 60 s');
      await this.deps.clock.sleep(POLL_MS);
    }
  }
}
