import type { CommandRunner } from '../../shared/process/command-runner.js';
import type { AgentConfig } from '../config.js';
import type { HypervisorDriver } from './hypervisor-driver.js';
import { LibvirtDriver } from './libvirt/libvirt-driver.js';
import { QemuDriver } from './qemu/qemu-driver.js';
import { XenDriver } from './xen/xen-driver.js';

/** The hypervisor driver chosen in the config. */
export function createDriver(config: AgentConfig['hypervisor'], runRoot: string, runner: CommandRunner): HypervisorDriver {
  switch (config.driver) {
    case 'qemu':
      return new QemuDriver({ runRoot, runner, ...config.qemu });
    case 'libvirt':
      return new LibvirtDriver({ uri: config.libvirt.uri, domainType: config.libvirt.domainType, bridge: config.libvirt.bridge });
    case 'xen':
      return new XenDriver({ xlPath: config.xen.xl, type: config.xen.type, bridge: config.xen.bridge, runner });
  }
}
