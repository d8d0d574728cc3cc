import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { CommandRunner } from '../../shared/process/command-runner.js';
import type { ImageCache } from '../images/image-cache.js';
import { createOverlay, removeOverlay } from '../images/overlay.js';
import type { ImageRefSpec, VmSpec } from './vm-spec.js';

/** What PT produced: the instance disk and boot files, and how they were obtained. */
export interface PreparedBoot {
  cacheHit: boolean;
  bytesTransferred: number;
  diskFormat: 'qcow2' | 'raw';
  kernelPath?: string;
  initrdPath?: string;
}

/** The deployer's view of images: prepare everything a VM boots from, release it afterwards. */
export interface ImageStore {
  /** Fetches (or finds) the VM's images, pins them, and creates the instance overlay. Undoes its pins on failure. */
  prepare(spec: VmSpec, overlayPath: string, signal?: AbortSignal): Promise<PreparedBoot>;
  /** Unpins images and deletes the overlay; idempotent. */
  release(shas: readonly string[], overlayPath: string): Promise<void>;
  /** Pins images of a domain found running at start-up. */
  pin(shas: readonly string[]): void;
}

/** ImageStore over the agent's content-addressed cache and qcow2 overlays. */
export class CachedImageStore implements ImageStore {
  constructor(
    private readonly cache: ImageCache,
    private readonly runner: CommandRunner,
  ) {}

  async prepare(spec: VmSpec, overlayPath: string, signal?: AbortSignal): Promise<PreparedBoot> {
    const refs = [spec.disk, spec.kernel, spec.initrd].filter((r): r is ImageRefSpec => r !== undefined);
    // All artifacts of one VM download in parallel; the cache shares any
    // download already running for another VM.
    const results = await Promise.all(refs.map((r) => this.cache.ensure(r, signal ? { signal } : {})));
    const pinned: string[] = [];
    try {
      for (const r of refs) {
        this.cache.acquire(r.sha256);
        pinned.push(r.sha256);
      }
      const [disk, ...boot] = results;
      if (!disk) throw new Error('unreachable: disk is required');
      await mkdir(path.dirname(overlayPath), { recursive: true });
      await createOverlay(this.runner, disk.path, disk.format, overlayPath);
      const kernel = spec.kernel ? boot.shift() : undefined;
      const initrd = spec.initrd ? boot.shift() : undefined;
      return {
        cacheHit: results.every((r) => r.cacheHit),
        bytesTransferred: results.reduce((sum, r) => sum + r.bytesTransferred, 0),
        diskFormat: disk.format,
        ...(kernel ? { kernelPath: kernel.path } : {}),
        ...(initrd ? { initrdPath: initrd.path } : {}),
      };
    } catch (e) {
      for (const sha of pinned) this.cache.release(sha);
      throw e;
    }
  }

  async release(shas: readonly string[], overlayPath: string): Promise<void> {
    await removeOverlay(overlayPath);
    for (const sha of shas) this.cache.release(sha);
  }

  pin(shas: readonly string[]): void {
    for (const sha of shas) this.cache.acquire(sha);
  }
}
