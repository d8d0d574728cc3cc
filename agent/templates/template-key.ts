import { createHash } from 'node:crypto';

/**
 * Everything a saved guest state depends on. A template is restored only
 * into a domain whose shape is equal in every field: another image, kernel
 * command line, memory size, vCPU count, hypervisor or hypervisor build
 * (QEMU refuses or, worse, misloads state from another version or machine).
 */
export interface TemplateShape {
  /** Driver kind (qemu, libvirt, xen). */
  hypervisor: string;
  /** The driver's SnapshotSupport.version(). */
  hypervisorVersion: string;
  diskSha256: string;
  kernelSha256: string;
  initrdSha256: string;
  /** The guest's kernel command line (the template's, with TEMPLATE_CMDLINE_FLAG). */
  cmdline: string;
  memoryMb: number;
  vcpus: number;
  /** The VO, for listings and logs only (the images already identify the appliance). */
  vo: string;
}

const FIELDS: ReadonlyArray<keyof TemplateShape> = ['hypervisor', 'hypervisorVersion', 'diskSha256', 'kernelSha256', 'initrdSha256', 'cmdline', 'memoryMb', 'vcpus'];

/** The template's cache key: sha256 of the shape's fields in a fixed order (32 hex characters name its directory). */
export function templateKey(shape: TemplateShape): string {
  const canonical = JSON.stringify(FIELDS.map((f) => shape[f]));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/** The first field in which two shapes differ, or undefined when they are the same template. */
export function shapeMismatch(want: TemplateShape, have: TemplateShape): string | undefined {
  for (const f of FIELDS) if (want[f] !== have[f]) return `${f}: template has ${JSON.stringify(have[f])}, this VM needs ${JSON.stringify(want[f])}`;
  return undefined;
}
