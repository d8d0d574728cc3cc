import type { ImageRef, VmSpec } from '../../shared/gen/vonode/v1/common.js';
import type { NodeRecord } from '../store/records.js';

/** What a deployment needs to know of a VO: its appliance and VM size (from the policy). */
export interface VoAppliance {
  vo: string;
  /** The appliance's identifier for accounting ('' or absent: not given in the policy). */
  applianceId?: string;
  vcpus: number;
  memoryMb: number;
  disk: ImageRef;
  kernel?: ImageRef;
  initrd?: ImageRef;
  cmdline?: string;
}

/** Looks VOs up in the policy in force. */
export interface VoCatalog {
  /** The VO's appliance, or undefined if the policy has no such VO. */
  appliance(vo: string): VoAppliance | undefined;
}

/** The agent's VmSpec for a leased node of a VO. */
export function vmSpecFor(node: NodeRecord, app: VoAppliance): VmSpec {
  return {
    hostname: node.hostname,
    ip: node.ip,
    mac: node.mac,
    vo: node.vo,
    disk: app.disk,
    kernel: app.kernel,
    initrd: app.initrd,
    cmdline: app.cmdline ?? '',
    vcpus: app.vcpus,
    memoryMb: app.memoryMb,
  };
}
