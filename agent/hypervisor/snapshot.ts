import type { FileDigest } from '../../shared/fs/file-digest.js';
import type { DomainConfig } from './domain-config.js';

/** Name of the virtio-serial port a template guest waits on for its identity (the appliance's await-identity.sh looks for it). */
export const IDENTITY_PORT_NAME = 'org.vonode.identity';
/** Kernel command-line word that makes a VO appliance stop at its template point (scripts/appliance/build-guest.sh). */
export const TEMPLATE_CMDLINE_FLAG = 'vonode.template=1';
/**
 * What a template's kernel command line adds to the appliance's: the flag,
 * and init_on_free=1 so memory the guest freed while booting (the unpacked
 * initrd, boot-time buffers) is zero and costs nothing in the saved state
 * (measured: 96 MB → 57 MB for a 256 MiB VO appliance, and a faster restore).
 */
export const TEMPLATE_CMDLINE_WORDS = `${TEMPLATE_CMDLINE_FLAG} init_on_free=1`;

/** The kernel command line of a template of an appliance booted with `cmdline`. */
export function templateCmdline(cmdline: string | undefined): string {
  return `${cmdline ?? 'console=ttyS0'} ${TEMPLATE_CMDLINE_WORDS}`;
}

/** What makes a restored copy of a template one particular pool node. */
export interface GuestIdentity {
  hostname: string;
  /** The pool triple's MAC: the guest sets it on eth0 before the link comes up (restored NIC state carries the template's). */
  mac: string;
  ip: string;
  /** The host's clock (the restored guest's clock is the template's). */
  unixTimeS: number;
  /** Fresh randomness for the guest's RNG (every copy restores the same RNG state), hex. */
  seedHex: string;
}

/** The identity as the line the guest reads: values were validated (hostname, MAC, IPv4), so they hold no spaces. */
export function identityLine(id: GuestIdentity): string {
  return `identity hostname=${id.hostname} mac=${id.mac.toLowerCase()} ip=${id.ip} time=${Math.floor(id.unixTimeS)} seed=${id.seedHex}\n`;
}

/** Where a restore's time went, ms (VMB details: restore_launch_ms, restore_load_ms, restore_identity_ms). */
export interface RestoreBreakdown {
  /** Hypervisor process (and tap) up, waiting for the state. */
  launchMs: number;
  /** The saved state streamed in and loaded. */
  loadMs: number;
  /** Guest resumed until it acknowledged its identity. */
  identityMs: number;
}

export type { FileDigest } from '../../shared/fs/file-digest.js';

/**
 * A template's files: `state` the device state stream (small: CPU, devices,
 * firmware ROMs) and `memory` the guest's RAM as a file. A restore maps the
 * memory file copy-on-write (pages are read on first touch and shared by
 * every copy through the page cache), so restoring costs the device state,
 * not the guest's memory.
 */
export interface TemplateFiles {
  state: string;
  memory: string;
}

/** A saved template: its files and the state stream's digest (checked on every restore; the memory file is checked by the caller). */
export interface SavedState {
  files: TemplateFiles;
  stateSha256: string;
}

/** A template's saved state did not load, or did not match its digest: the caller boots cold and rebuilds it. */
export class TemplateRestoreError extends Error {
  constructor(
    message: string,
    /** True when the state file itself is bad (digest mismatch, refused by the hypervisor): the template must go. */
    readonly stateBad: boolean,
  ) {
    super(message);
    this.name = 'TemplateRestoreError';
  }
}

/**
 * Snapshot templates with the hypervisor's own save/restore: a driver that
 * has this can boot an appliance once to its template point, save memory and
 * device state, and start any number of domains from that state.
 */
export interface SnapshotSupport {
  /**
   * The hypervisor build and machine the saved state belongs to (e.g.
   * "qemu 7.2.22 (Debian ...) pc tcg"); part of every template's key, so a
   * template saved by another version is never restored.
   */
  version(): Promise<string>;
  /**
   * Boots `config` (its cmdline carries TEMPLATE_CMDLINE_FLAG) until the guest
   * says it waits for its identity, saves its state and memory to `files`,
   * and stops it. Resolves with the files' sizes and sha256. The domain
   * never joins the network.
   */
  saveTemplate(config: DomainConfig, files: TemplateFiles, signal?: AbortSignal): Promise<{ state: FileDigest; memory: FileDigest }>;
  /**
   * Starts domain `config` (the template's devices, its own disk, tap and
   * MAC) from the saved state, hands the guest `identity`, and resolves once
   * the guest runs and took it. Throws TemplateRestoreError; leaves no
   * domain behind when it throws.
   */
  restore(config: DomainConfig, state: SavedState, identity: GuestIdentity, signal?: AbortSignal): Promise<RestoreBreakdown>;
}
