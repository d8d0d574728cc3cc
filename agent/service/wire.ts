import { DomainState, type Domain, type VmSpec as WireVmSpec, type ImageRef } from '../../shared/gen/vonode/v1/common.js';
import type { DomainRunState } from '../hypervisor/hypervisor-driver.js';
import type { ImageRefSpec, RawVmSpec, VmSpec } from '../deploy/vm-spec.js';
import type { DomainRecord } from '../state/domain-store.js';

const STATE: Record<DomainRunState, DomainState> = {
  running: DomainState.DOMAIN_STATE_RUNNING,
  paused: DomainState.DOMAIN_STATE_PAUSED,
  shutdown: DomainState.DOMAIN_STATE_SHUTDOWN,
  crashed: DomainState.DOMAIN_STATE_CRASHED,
  defined: DomainState.DOMAIN_STATE_DEFINED,
};

function imageFromWire(ref: ImageRef | undefined): RawVmSpec['disk'] {
  return ref ? { url: ref.url, sha256: ref.sha256, sizeBytes: ref.sizeBytes, peers: ref.peers, rateBytesPerSecond: ref.rateBytesPerSecond } : undefined;
}

function imageToWire(ref: ImageRefSpec | undefined): ImageRef | undefined {
  return ref ? { url: ref.url, sha256: ref.sha256, sizeBytes: ref.sizeBytes ?? 0, peers: [], rateBytesPerSecond: 0 } : undefined; // the schedule is the request's, not part of the domain
}

/** Wire VmSpec → unvalidated domain spec (validateVmSpec comes next). */
export function vmSpecFromWire(vm: WireVmSpec | undefined): RawVmSpec {
  if (!vm) return {};
  return {
    hostname: vm.hostname,
    ip: vm.ip,
    mac: vm.mac,
    vo: vm.vo,
    disk: imageFromWire(vm.disk),
    kernel: imageFromWire(vm.kernel),
    initrd: imageFromWire(vm.initrd),
    cmdline: vm.cmdline,
    vcpus: vm.vcpus,
    memoryMb: vm.memoryMb,
  };
}

/** Domain spec → wire VmSpec. */
export function vmSpecToWire(spec: VmSpec): WireVmSpec {
  return {
    hostname: spec.hostname,
    ip: spec.ip,
    mac: spec.mac,
    vo: spec.vo,
    disk: imageToWire(spec.disk),
    kernel: imageToWire(spec.kernel),
    initrd: imageToWire(spec.initrd),
    cmdline: spec.cmdline ?? '',
    vcpus: spec.vcpus,
    memoryMb: spec.memoryMb,
  };
}

/** A domain record and its hypervisor state → wire Domain. */
export function domainToWire(record: DomainRecord, state: DomainRunState | undefined): Domain {
  return {
    name: record.domainName,
    spec: vmSpecToWire(record.spec),
    state: state ? STATE[state] : DomainState.DOMAIN_STATE_UNSPECIFIED,
    driver: record.driver,
    leasedIp: record.leasedIp ?? '',
  };
}
