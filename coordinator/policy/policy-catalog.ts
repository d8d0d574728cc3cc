import type { VoAppliance, VoCatalog } from '../deploy/vo-catalog.js';
import type { PolicyWatcher } from './policy-watcher.js';

/** The deployment queue's view of the policy in force: each VO's appliance and VM size, read live. */
export function policyCatalog(policy: PolicyWatcher): VoCatalog {
  return {
    appliance(vo: string): VoAppliance | undefined {
      const p = policy.current.vos.find((v) => v.name === vo);
      if (!p) return undefined;
      const a = p.appliance;
      const ref = (r: { url: string; sha256: string; sizeBytes?: number } | undefined) => r && { url: r.url, sha256: r.sha256, sizeBytes: r.sizeBytes ?? 0, peers: [], rateBytesPerSecond: 0 };
      return {
        vo, vcpus: p.vm.vcpus, memoryMb: p.vm.memoryMb, disk: ref(a.disk)!,
        ...(a.kernel ? { kernel: ref(a.kernel) } : {}),
        ...(a.initrd ? { initrd: ref(a.initrd) } : {}),
        ...(a.cmdline ? { cmdline: a.cmdline } : {}),
        ...(a.id ? { applianceId: a.id } : {}),
      };
    },
  };
}
